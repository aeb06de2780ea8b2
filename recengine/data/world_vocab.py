"""Topic taxonomy and vocabulary of the synthetic world.

MIND-like category and subcategory names; each subcategory has topical words that
titles and abstracts are written from, so a language model can read the topic.
Each category has an hour of the day when its readers are most active (the
world's time-of-day effect).
"""

from __future__ import annotations

# category -> (peak hour, {subcategory: topical words and phrases})
TAXONOMY: dict[str, tuple[int, dict[str, tuple[str, ...]]]] = {
    "news": (8, {
        "newspolitics": ("senate", "election", "ballot", "lawmakers", "campaign", "governor", "congress",
                         "bill", "vote", "poll", "candidate", "impeachment", "legislature", "debate", "policy"),
        "newsworld": ("embassy", "summit", "diplomats", "ceasefire", "border", "foreign minister", "treaty",
                      "refugees", "sanctions", "united nations", "protests", "parliament", "alliance", "envoy"),
        "newscrime": ("police", "arrest", "suspect", "shooting", "investigation", "court", "jury", "sheriff",
                      "robbery", "detectives", "sentencing", "murder trial", "prosecutors", "warrant"),
        "newsscienceandtechnology": ("astronomers", "telescope", "spacecraft", "laboratory", "researchers",
                                     "quantum computer", "satellite", "physicists", "fossil", "experiment",
                                     "artificial intelligence", "rocket launch", "microchip", "genome"),
        "newsus": ("county", "city council", "residents", "school board", "mayor", "highway", "community",
                   "veterans", "neighborhood", "firefighters", "town hall", "local officials", "volunteers"),
    }),
    "sports": (20, {
        "football_nfl": ("quarterback", "touchdown", "linebacker", "end zone", "playoffs", "interception",
                         "wide receiver", "super bowl", "field goal", "draft pick", "offensive line", "sack"),
        "basketball_nba": ("point guard", "rebounds", "three-pointer", "slam dunk", "free throw", "buzzer beater",
                           "triple-double", "center", "assists", "fast break", "tipoff", "hardwood"),
        "baseball_mlb": ("pitcher", "home run", "bullpen", "shortstop", "inning", "strikeout", "batting average",
                         "world series", "dugout", "catcher", "grand slam", "spring training"),
        "soccer": ("striker", "penalty kick", "goalkeeper", "midfielder", "premier league", "header", "offside",
                   "transfer window", "clean sheet", "hat trick", "stoppage time", "champions league"),
        "formula1": ("grand prix", "pole position", "pit stop", "qualifying", "podium", "paddock", "constructors",
                     "safety car", "fastest lap", "chicane", "tyre strategy", "team principal"),
        "golf": ("birdie", "fairway", "putter", "bogey", "green jacket", "tee shot", "leaderboard", "caddie",
                 "major championship", "eagle", "bunker", "ryder cup"),
        "tennis": ("grand slam", "serve", "backhand", "tiebreak", "baseline", "wimbledon", "forehand",
                   "double fault", "break point", "clay court", "ace", "set point"),
    }),
    "finance": (9, {
        "markets": ("stocks", "dow jones", "nasdaq", "shares", "investors", "rally", "sell-off", "bond yields",
                    "earnings", "wall street", "index futures", "bear market", "trading"),
        "centralbanks": ("interest rates", "inflation", "federal reserve", "central bank", "monetary policy",
                         "rate cut", "economists", "recession", "treasury", "currency", "rate hike", "gdp"),
        "personalfinance": ("retirement", "savings", "credit card", "mortgage", "budget", "taxes",
                            "social security", "401(k)", "debt", "paycheck", "emergency fund", "credit score"),
        "realestate": ("home prices", "housing market", "listing", "renters", "condo", "real estate agent",
                       "open house", "property", "landlord", "down payment", "square feet", "zoning"),
        "finance-companies": ("chief executive", "merger", "acquisition", "quarterly results", "layoffs",
                              "shareholders", "startup", "ipo", "board of directors", "revenue", "profit warning"),
    }),
    "lifestyle": (12, {
        "lifestyleroyals": ("royal family", "duchess", "prince", "palace", "queen", "coronation", "royal wedding",
                            "crown", "king", "buckingham", "royal tour", "heir"),
        "parenting": ("toddler", "parents", "newborn", "kindergarten", "bedtime", "babysitter", "teenagers",
                      "homework", "playground", "pregnancy", "daycare", "family routine"),
        "fashion": ("runway", "designer", "couture", "handbag", "sneakers", "fashion week", "wardrobe", "stylist",
                    "denim", "collection", "red carpet look", "vintage"),
    }),
    "entertainment": (21, {
        "celebrity": ("celebrity", "actress", "paparazzi", "engagement", "instagram post", "feud", "rumors",
                      "interview", "divorce", "memoir", "fans", "selfie"),
        "awards": ("oscars", "nominations", "golden globes", "acceptance speech", "red carpet", "emmys", "trophy",
                   "ceremony", "best actor", "grammys", "host", "snub"),
    }),
    "health": (7, {
        "fitness": ("workout", "treadmill", "strength training", "yoga", "marathon", "personal trainer",
                    "cardio", "push-ups", "stretching", "gym", "squats", "endurance"),
        "nutrition": ("protein", "vegetables", "diet", "calories", "vitamins", "sugar", "fiber", "keto",
                      "intermittent fasting", "nutritionist", "whole grains", "hydration"),
        "medical": ("vaccine", "hospital", "doctors", "clinical trial", "cancer", "surgery", "symptoms", "patients",
                    "flu season", "diagnosis", "treatment", "virus"),
    }),
    "travel": (13, {
        "destinations": ("beach", "island", "national park", "resort", "itinerary", "hiking trail", "cruise",
                         "tourists", "hotel", "road trip", "mountain village", "passport"),
        "airlines": ("flights", "airport", "boarding", "passengers", "airline", "jet", "frequent flyer",
                     "delays", "cabin crew", "runway", "layover", "baggage"),
    }),
    "foodanddrink": (18, {
        "recipes": ("recipe", "casserole", "baking", "slow cooker", "dessert", "oven", "ingredients", "soup",
                    "pie", "roast chicken", "dinner ideas", "cookies"),
        "restaurants": ("restaurant", "chef", "menu", "brunch", "tasting menu", "bistro", "reservations",
                        "food critic", "pizzeria", "diner", "steakhouse", "michelin star"),
    }),
    "autos": (17, {
        "electricvehicles": ("electric car", "battery", "charging station", "range", "ev", "tesla", "charger",
                             "autonomous driving", "hybrid", "kilowatt", "plug-in", "battery plant"),
        "autosreviews": ("sedan", "pickup truck", "suv", "horsepower", "test drive", "dealership", "recall",
                         "engine", "fuel economy", "crossover", "transmission", "sports car"),
    }),
    "weather": (6, {
        "storms": ("hurricane", "tornado", "snowstorm", "flood warning", "thunderstorms", "blizzard",
                   "power outages", "evacuations", "wind gusts", "hail", "forecast", "storm surge"),
        "climate": ("climate change", "emissions", "heat wave", "drought", "wildfire", "glaciers", "carbon",
                    "renewable energy", "sea level", "temperatures", "solar panels", "climate summit"),
    }),
    "music": (22, {
        "musicnews": ("album", "single", "rapper", "band", "songwriter", "music video", "record label",
                      "billboard chart", "lyrics", "pop star", "collaboration", "debut"),
        "concerts": ("tour", "concert", "stadium show", "festival", "setlist", "tickets", "encore", "headliner",
                     "opening act", "arena", "live performance", "reunion tour"),
    }),
    "movies": (21, {
        "movienews": ("trailer", "director", "sequel", "superhero", "casting", "screenplay", "franchise",
                      "studio", "premiere", "remake", "filming", "cinematic universe"),
        "boxoffice": ("box office", "opening weekend", "ticket sales", "blockbuster", "theaters",
                      "domestic gross", "projections", "flop", "record debut", "holdovers", "studio estimates"),
    }),
    "tv": (20, {
        "tvnews": ("season finale", "showrunner", "sitcom", "episode", "cast", "network", "reboot", "spinoff",
                   "ratings", "late-night host", "cliffhanger", "reality show"),
        "streaming": ("streaming service", "netflix", "subscribers", "binge-watch", "original series",
                      "docuseries", "miniseries", "password sharing", "streaming deal", "watchlist", "premiere date"),
    }),
}

# Words that glue titles together without carrying a topic.
VERBS = ("wins", "faces", "announces", "reveals", "confirms", "questions", "targets", "unveils", "warns about",
         "backs", "delays", "defends", "reshapes", "doubles down on", "rethinks", "celebrates", "slams", "eyes")
ADJECTIVES = ("surprise", "record", "major", "new", "late", "key", "bold", "unexpected", "historic", "tense",
              "quiet", "big", "rare", "early")
TITLE_TEMPLATES = (
    "{E} {verb} {adj} {w1} ahead of {w2}",
    "Why the {w1} matters for {E}",
    "{E}: {adj} {w1} sparks {w2} debate",
    "{w1} and {w2}: what {E} said next",
    "{E} {verb} {w1} as {w2} looms",
    "The {adj} {w1} that {E} did not see coming",
    "{adj} {w1} puts {E} in the spotlight",
    "{E} and the {w1}: {w2} explained",
)
ABSTRACT_TEMPLATES = (
    "{E} said the {w1} could change the {w2}. The {adj} {w3} comes after weeks of talk about {w4}.",
    "A {adj} {w1} put {E} at the center of the {w2}. Observers now expect more {w3} and {w4}.",
    "After the {w1}, {E} turned to the {w2}. Analysts point to the {w3} and the {adj} {w4}.",
)

FIRST_NAMES = ("Ava", "Liam", "Noah", "Mia", "Elena", "Marcus", "Priya", "Diego", "Hana", "Omar", "Zoe", "Felix",
               "Ingrid", "Tariq", "Lucia", "Kenji", "Amara", "Boris", "Chloe", "Dmitri", "Esme", "Farid", "Greta",
               "Hugo", "Iris", "Jonas", "Keira", "Leon", "Maya", "Nadia", "Oscar", "Paloma", "Quinn", "Rafael",
               "Saskia", "Tobias", "Uma", "Viktor", "Willa", "Yusuf")
SYLLABLES = ("bar", "ken", "lo", "vin", "dra", "mor", "tes", "sel", "quin", "rath", "ben", "cor", "dal", "fen",
             "gar", "hol", "jas", "kir", "lan", "mer", "nor", "pel", "ros", "stav", "tor", "vel", "wick", "zan")
ORG_SUFFIXES = ("United", "Group", "Holdings", "Foundation", "Institute", "Council", "Partners", "Labs")
PLACE_PREFIXES = ("Port", "Lake", "New", "Fort", "Mount", "East", "West", "Glen")
