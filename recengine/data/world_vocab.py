"""Topic taxonomy and vocabulary of the synthetic world.

MIND-like category and subcategory names; each subcategory has topical words that
titles and abstracts are written from, so a language model can read the topic.
Each category has an hour of the day when its readers are most active (the
world's time-of-day effect).
"""

from __future__ import annotations

import re

from recengine.data.world_words import TOPIC_POOLS

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

# --------------------------------------------------------------------------- world v3

HELD_BACK = 0.35  # share of each pool's phrases held back until day 6: vocabulary drift
# Function words inside topic phrases ("speaker of the house"): sharing them is not sharing a topic word.
STOPWORDS = frozenset("a an and at by for from in of on or the to up with".split())
_TOKEN = re.compile(r"[\w'&+-]+")


def content_words(text: str) -> frozenset[str]:
    """The lowercase words of ``text`` less function words."""
    return frozenset(_TOKEN.findall(text.lower())) - STOPWORDS


def _linked_groups(words: tuple[str, ...]) -> list[list[str]]:
    """Phrases joined when they share a content word ("tasting menu", "menu"), in order of first appearance."""
    group_of: dict[str, int] = {}
    groups: list[list[str]] = []
    for phrase in words:
        hits = sorted({group_of[w] for w in content_words(phrase) if w in group_of})
        target = hits[0] if hits else len(groups)
        if not hits:
            groups.append([])
        for other in hits[1:]:  # merge every group this phrase bridges into the first
            groups[target] += groups[other]
            groups[other] = []
        groups[target].append(phrase)
        for member in groups[target]:
            for w in content_words(member):
                group_of[w] = target
    return [g for g in groups if g]


def _split_pool(words: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Train-era and drift phrases: a drift phrase shares no content word with a train-era phrase of its pool,
    so its words are truly unseen before day 6. Groups go to drift while that keeps near ``HELD_BACK``."""
    train: list[str] = []
    drift: list[str] = []
    seen = 0
    for group in _linked_groups(words):
        seen += len(group)
        (drift if len(drift) + len(group) <= HELD_BACK * seen + 0.5 else train).extend(group)
    return tuple(train), tuple(drift)


# subcategory -> (train-era words, drift words): drift words appear only in day-6 articles.
TOPIC_WORDS_V3: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    name: _split_pool(words) for name, words in TOPIC_POOLS.items()
}

# Generic phrasings: no template word carries a topic, so the topic lives only in the pool words.
TITLE_TEMPLATES_V3 = TITLE_TEMPLATES + (
    "What the {w1} means for {w2}, according to {E}",
    "{E} {verb} {w1}, and {w2} may be next",
    "Inside the {adj} {w1}: {E} on {w2}",
    "Everything we know about the {w1} and {E}",
    "{E} opens up about {w1} and {w2}",
    "A {adj} week of {w1} for {E}",
)
ABSTRACT_TEMPLATES_V3 = (
    "{E} said the {w1} could change the {w2}. The {adj} {w3} comes after weeks of talk about {w4}.",
    "A {adj} {w1} put {E} at the heart of the {w2}. Observers now expect more {w3} and {w4}.",
    "After the {w1}, {E} turned to the {w2}. Many point to the {w3} and the {adj} {w4}.",
    "People close to {E} say the {w1} was only the start; {w2} and {w3} are next, with {w4} still open.",
    "It was a {adj} day for {w1}. {E} spoke about {w2}, {w3} and what {w4} could bring.",
    "From {w1} to {w2}, {E} has seen it all. Now the {adj} {w3} raises new questions about {w4}.",
)
