"""World v3's topic vocabulary: per subcategory a large pool of related English words and phrases.

Synonyms, hypernyms and related concepts of each subcategory, so that two articles on one topic often share no
content word while a general-purpose sentence model still maps them close. :mod:`world_vocab` splits each pool
into train-era and drift words (``TOPIC_WORDS_V3``).
"""

from __future__ import annotations


def _pool(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split("|") if word.strip())


TOPIC_POOLS: dict[str, tuple[str, ...]] = {name: _pool(text) for name, text in {
    "newspolitics": """senate | election | ballot | lawmakers | campaign trail | governor | congress | bill | vote |
        opinion poll | candidate | impeachment | legislature | televised debate | policy agenda | voters |
        primary race |
        swing states | filibuster | partisan divide | bipartisan deal | caucus | speaker of the house | incumbent |
        running mate | polling stations | midterms | white house | legislation | republicans | democrats |
        campaign donors | attack ads | constituents | electoral college | redistricting | veto | statehouse |
        political party | referendum | attorney general | cabinet nominee""",
    "newsworld": """embassy | summit | diplomats | ceasefire | border crossing | foreign minister | treaty | refugees |
        sanctions | united nations | street protests | parliament | military alliance | envoy | peace talks |
        prime minister | asylum seekers | humanitarian aid | coup | insurgents | airstrikes | geopolitics |
        trade dispute | foreign policy | ambassador | annexation | nato | troops | occupied territory |
        peacekeepers | state visit | election abroad | dissidents | regime | civil war | hostages |
        international court | border wall | migrants | diplomatic rift | bilateral talks | kremlin""",
    "newscrime": """police | arrest | suspect | shooting | investigation | courtroom | jury | sheriff | robbery |
        detectives | sentencing | murder trial | prosecutors | warrant | homicide | indictment | burglary |
        gunman | defense attorney | plea deal | felony charges | manhunt | crime scene | forensic evidence |
        inmate | prison | parole | witness | testimony | verdict | bail hearing | carjacking | fraud scheme |
        kidnapping | stabbing | law enforcement | handcuffs | district attorney | convicted | jail |
        cold case | assault charges""",
    "newsscienceandtechnology": """astronomers | telescope | spacecraft | laboratory | researchers |
        quantum computer | satellite | physicists | fossil | experiment | artificial intelligence | rocket launch |
        microchip | genome | scientists | discovery | nasa | black hole | galaxy | orbit | mars rover | asteroid |
        dinosaur | evolution | neuroscience | robotics | algorithm | semiconductor | peer review | study finds |
        space station | exoplanet | gene editing | particle accelerator | archaeologists | software | engineers |
        machine learning | cybersecurity | supercomputer | biologists | chemistry""",
    "newsus": """county | city council | residents | school board | mayor | highway | community | veterans |
        neighborhood | firefighters | town hall | local officials | volunteers | small town | main street |
        public library | state fair | police chief | sheriff's office | water main | potholes | zoning board |
        local business | high school | homecoming | parade | food bank | church | suburb | downtown |
        rural america | farmers | county fair | township | municipal budget | public works | crossing guard |
        fire department | animal shelter | community center | hometown hero | block party""",
    "football_nfl": """quarterback | touchdown | linebacker | end zone | playoffs | interception | wide receiver |
        super bowl | field goal | draft pick | offensive line | sack | running back | tight end | gridiron |
        kickoff | punt | fumble | cornerback | defensive end | head coach | nfl | two-minute drill |
        first down | red zone | passing yards | rushing yards | huddle | snap | blitz | safety | pigskin |
        wild card | preseason | free agent | training camp | monday night football | helmet | scrimmage |
        pass rush | hail mary | touchback""",
    "basketball_nba": """point guard | rebounds | three-pointer | slam dunk | free throw | buzzer beater |
        triple-double | center | assists | fast break | tipoff | hardwood | nba | power forward | shooting guard |
        layup | jump shot | alley-oop | double-double | rim | backboard | hoops | pick and roll | shot clock |
        technical foul | bench scoring | sixth man | paint | crossover dribble | block | steal | turnover |
        all-star | lottery pick | playoff series | conference finals | court vision | jersey retirement |
        basketball | dribble | tip-off | box score""",
    "baseball_mlb": """pitcher | home run | bullpen | shortstop | inning | strikeout | batting average | world series |
        dugout | catcher | bases-clearing double | spring training | mlb | outfielder | first baseman | ballpark |
        bases loaded |
        double play | curveball | fastball | slider | no-hitter | walk-off | rbi | era | relief pitcher | closer |
        starting rotation | lineup | pinch hitter | stolen base | foul ball | batter | umpire | pennant race |
        slugger | diamond | minor leagues | batting practice | baseball | mound | seventh-inning stretch""",
    "soccer": """striker | penalty kick | goalkeeper | midfielder | premier league | header | offside |
        transfer window | clean sheet | hat trick | stoppage time | champions league | football club | winger |
        defender | corner kick | free kick | yellow card | red card | var review | equaliser | relegation |
        promotion | derby | pitch | manager | la liga | serie a | bundesliga | world cup | own goal | dribbling |
        extra time | penalty shootout | loan deal | squad | fixture | scoreline | tackle | captain's armband |
        away fans | crossbar""",
    "formula1": """grand prix | pole position | pit stop | qualifying | podium | paddock | constructors | safety car |
        fastest lap | chicane | tyre strategy | team principal | racing circuit | motorsport | driver standings |
        chequered flag | overtaking | race car | lap record | formula one | starting grid | slipstream | drs zone |
        hairpin | pit lane | downforce | aerodynamics | race engineer | championship leader | hybrid power unit |
        formation lap | virtual safety car | grid penalty | front wing | team radio | hard tyres | monaco |
        silverstone | monza | f1 | race weekend | practice session""",
    "golf": """birdie | fairway | putter | bogey | green jacket | tee shot | leaderboard | caddie | major championship |
        eagle | bunker | ryder cup | golfer | pga tour | the masters | putting green | hole in one | par five |
        driving range | clubhouse | swing coach | links course | sand trap | rough | iron shot | wedge | driver |
        back nine | front nine | playoff hole | cut line | handicap | chip shot | scorecard | tee time |
        open championship | dogleg | albatross | country club | golf course | short game | final round""",
    "tennis": """grand slam | serve | backhand | tiebreak | baseline | wimbledon | forehand | double fault |
        break point | clay court | ace | set point | tennis | atp | wta | us open | french open | australian open |
        volley | racket | match point | seeded player | straight sets | five-setter | grass court | hard court |
        drop shot | lob | long rally | net cord | umpire's call | qualifier | doubles partner | mixed doubles |
        quarterfinal |
        semifinal | ranking points | davis cup | line judge | break of serve | centre court | love game""",
    "markets": """stocks | dow jones | nasdaq | shares | investors | rally | sell-off | bond yields | earnings |
        wall street | index futures | bear market | trading | s&p 500 | equities | bull market | volatility |
        hedge fund | portfolio | stock exchange | dividends | market cap | traders | commodities | oil prices |
        gold prices | treasury yields | price target | analysts | correction | blue chips | options |
        brokerage | etf | asset managers | market close | opening bell | risk appetite | safe haven |
        short sellers | valuation | trading volume""",
    "centralbanks": """interest rates | inflation | federal reserve | central bank | monetary policy | rate cut |
        economists | recession | treasury | currency | rate hike | gdp | fed chair | powell | ecb |
        bank of england | basis points | quantitative easing | balance sheet | policymakers | jobs report |
        unemployment rate | consumer prices | economic outlook | dovish | hawkish | yield curve | stimulus |
        borrowing costs | benchmark rate | money supply | price stability | fomc | rate decision | tightening |
        easing cycle | exchange rate | dollar | euro | economic growth | forward guidance | deflation""",
    "personalfinance": """retirement | savings | credit card | mortgage | budget | taxes | social security |
        401(k) | debt | paycheck | emergency fund | credit score | ira | financial planner | frugal | coupons |
        student loans | tax refund | compound interest | net worth | side hustle | household expenses |
        insurance premiums | annuity | estate planning | checking account | overdraft fees | nest egg | pension |
        early retirement | index funds | spending habits | cash back | identity theft | tax deductions |
        money tips | personal loan | financial advice | living paycheck to paycheck | wealth | saving money |
        bills""",
    "realestate": """home prices | housing market | listing | renters | condo | real estate agent | open house |
        property | landlord | down payment | square feet | zoning | homebuyers | mortgage rates | realtor |
        starter home | luxury mansion | apartment | rent prices | housing shortage | foreclosure | home sale |
        property taxes | closing costs | homeowners | new construction | townhouse | curb appeal | bedrooms |
        backyard | renovation | home inspection | eviction | tenants | housing starts | escrow | asking price |
        bidding war | real estate | vacation home | neighborhood values | floor plan""",
    "finance-companies": """chief executive | merger | acquisition | quarterly results | layoffs | shareholders |
        startup | ipo | board of directors | revenue | profit warning | ceo | corporation | conglomerate |
        takeover bid | venture capital | annual report | earnings call | restructuring | spin-off | market share |
        bankruptcy | chief financial officer | stock buyback | headquarters | workforce | antitrust | regulators |
        subsidiary | business deal | investors day | boardroom | executive pay | unicorn | private equity |
        supply chain | profits | sales growth | company | firm | corporate strategy | job cuts""",
    "lifestyleroyals": """royal family | duchess | prince | palace | queen | coronation | royal wedding | crown |
        king | buckingham | royal tour | heir | monarchy | windsor | kensington | princess | duke | throne |
        royal baby | line of succession | sussex | cambridge | balmoral | tiara | jubilee | royal household |
        courtiers | trooping the colour | crown jewels | royal christening | sandringham | monarch | majesty |
        royal portrait | commonwealth | regal | royal engagement | palace aides | royal patronage | abdication |
        royal watchers | king charles""",
    "parenting": """toddler | parents | newborn | kindergarten | bedtime | babysitter | teenagers | homework |
        playground | pregnancy | daycare | family routine | moms | dads | children | kids | screen time |
        tantrum | breastfeeding | diaper | potty training | preschool | school lunch | bedtime story |
        sibling rivalry | parenting tips | motherhood | fatherhood | infant | child care | adolescence | nanny |
        family vacation | allowance | grandparents | baby shower | stroller | pediatrician | tweens |
        stay-at-home parent | nursery | lullaby""",
    "fashion": """runway | designer | couture | handbag | sneakers | fashion week | wardrobe | stylist | denim |
        collection | red carpet look | vintage | outfit | dress | trend | catwalk | fashion model | vogue |
        accessories | jewelry | boutique | streetwear | luxury brand | tailoring | silhouette | hemline | gown |
        blazer | lookbook | spring collection | fashion house | menswear | womenswear | style icon | fabric |
        knitwear | heels | boots | sunglasses | capsule wardrobe | haute couture | trench coat""",
    "celebrity": """celebrity | actress | paparazzi | engagement | instagram post | feud | rumors | interview |
        divorce | memoir | fans | selfie | star | hollywood | famous couple | gossip | tabloid | romance |
        breakup | reality star | influencer | social media | talk show | spotted | date night | wedding ring |
        famous | entourage | publicist | baby bump | heartthrob | a-lister | throwback photo | cameo |
        social media followers | spokesperson | starlet | fan meetup | birthday party | mansion | tmz | exes""",
    "awards": """oscars | nominations | golden globes | acceptance speech | red carpet | emmys | trophy | ceremony |
        best actor | grammys | host | snub | academy awards | nominees | best picture | winners | statuette |
        envelope | frontrunner | awards season | best actress | shortlist | screen actors guild | bafta |
        tony awards | campaign for votes | upset win | voters of the academy | honorary award |
        lifetime achievement | supporting role | best director | award show | gala | predictions | ballots |
        shortlisted | critics' choice | prize | accolade | standing ovation | best song""",
    "fitness": """workout | treadmill | strength training | yoga | marathon | personal trainer | cardio | push-ups |
        stretching | gym | squats | endurance | exercise | weightlifting | running | pilates | crossfit |
        interval training | abs | muscle | deadlift | burpees | plank | jogging | cycling | spin class | fitness |
        athletic | warm-up | recovery day | sweat | physique | resistance bands | kettlebell | dumbbells |
        step count | core strength | flexibility | training plan | bodyweight | sprint | lunges""",
    "nutrition": """protein | vegetables | diet | calories | vitamins | sugar | fiber | keto | intermittent fasting |
        nutritionist | whole grains | hydration | healthy eating | dietitian | carbs | fats | superfoods |
        metabolism | weight loss | meal plan | snacks | leafy greens | antioxidants | probiotics | gut health |
        plant-based | vegan | cholesterol | sodium | fruit | nuts | omega-3 | portion size | processed food |
        breakfast | smoothie | minerals | glycemic | mediterranean diet | eating habits | supplements |
        nutrients""",
    "medical": """vaccine | hospital | doctors | clinical trial | cancer | surgery | symptoms | patients | flu season |
        diagnosis | treatment | virus | disease | physicians | nurses | infection | outbreak | pandemic | therapy |
        medication | prescription | chronic illness | heart attack | stroke | diabetes | alzheimer's |
        emergency room | health care | fda approval | pharmaceutical | immune system | blood pressure |
        physician | medical study | antibiotics | transplant | tumor | chemotherapy | epidemic | cdc |
        public health | pain relief""",
    "destinations": """beach | island | national park | resort | itinerary | hiking trail | cruise | tourists |
        hotel | road trip | mountain village | passport | vacation | getaway | sightseeing | landmarks |
        travel guide | backpacking | campground | coastline | waterfall | old town | museum | safari | lagoon |
        ski resort | bed and breakfast | scenic drive | tropical | tourist attraction | holiday | journey |
        explorers | hidden gem | travelers | wanderlust | weekend break | canyon | lighthouse | vineyard tour |
        bucket list | countryside""",
    "airlines": """flights | airport | boarding | passengers | airline | jet | frequent flyer | flight delays |
        cabin crew |
        taxiway | layover | baggage | pilots | aircraft | boeing | airbus | flight attendant | terminal |
        security line | tsa | first class | economy seat | legroom | nonstop route | departure gate |
        cancellations | air travel | carrier | airfare | jetliner | cockpit | takeoff | landing | turbulence |
        carry-on | checked bags | aviation | tarmac | air traffic control | boarding pass | lounge | jet lag""",
    "recipes": """recipe | casserole | baking | slow cooker | dessert | oven | ingredients | soup | pie |
        roast chicken | dinner ideas | cookies | cake | bread | pasta | salad | stew | marinade | frosting |
        skillet | sheet pan | weeknight meal | leftovers | appetizer | side dish | cookbook | muffins | brownies |
        chili | gravy | dough | saute | grilled | seasoning | comfort food | potluck | one-pot meal |
        homemade | cooking tips | kitchen | pancakes | lasagna""",
    "restaurants": """restaurant | chef | menu | brunch | tasting menu | bistro | reservations | food critic |
        pizzeria | diner | steakhouse | michelin star | eatery | waitstaff | dining room | sommelier | cuisine |
        fast food | drive-thru | chain restaurant | burger joint | food truck | cafe | bakery | takeout |
        delivery app | tipping | happy hour | cocktail bar | farm-to-table | celebrity chef | line cook |
        grand opening | restaurant review | dinner service | booth | specials | patio dining | gastropub |
        sushi bar | taqueria | closing its doors""",
    "electricvehicles": """electric car | battery | charging station | miles of range | ev | tesla | charger |
        autonomous driving | hybrid | kilowatt | plug-in | battery plant | electric vehicle | zero emissions |
        lithium-ion | supercharger | self-driving | rivian | electric truck | range anxiety | fast charging |
        charging network | battery pack | electric motor | regenerative braking | tax credit | e-bike |
        emissions-free | gigafactory | solid-state battery | electrification | electric suv | elon musk |
        charging port | battery cells | ev sales | clean cars | mileage per charge | autopilot | robotaxi |
        cobalt | grid""",
    "autosreviews": """sedan | pickup truck | suv | horsepower | test drive | dealership | recall | engine |
        fuel economy | crossover | transmission | sports car | coupe | convertible | minivan | hatchback |
        torque | v8 | turbocharged | all-wheel drive | mpg | towing capacity | trim level | interior |
        infotainment | cargo space | ride quality | handling | brakes | automaker | car buyers | model year |
        road test | car review | price tag | luxury car | four-door | cockpit design | speedometer | muscle car |
        compact car | wagon""",
    "storms": """hurricane | tornado | snowstorm | flood warning | thunderstorms | blizzard | power outages |
        evacuations | wind gusts | hail | forecast | storm surge | meteorologists | national weather service |
        severe weather | tropical storm | landfall | downpour | flash flooding | heavy rain | ice storm |
        lightning | winter storm | storm damage | emergency shelters | category 4 | storm track | rainfall |
        whiteout | freezing rain | cyclone | typhoon | gale | weather alert | debris | storm chasers |
        radar | sleet | snowfall | nor'easter | power lines down | hurricane season""",
    "climate": """climate change | emissions | heat wave | drought | wildfire | glaciers | carbon | renewable energy |
        sea level | temperatures | solar panels | climate summit | global warming | greenhouse gases |
        fossil fuels | paris agreement | net zero | carbon footprint | deforestation | wind turbines |
        melting ice | arctic | coral reefs | biodiversity | environmentalists | climate activists | pollution |
        clean energy | coal plants | carbon tax | extreme weather | climate scientists | ecosystems |
        sustainability | record heat | ice sheets | methane | climate crisis | green energy | conservation |
        rising seas | environment""",
    "musicnews": """album | single | rapper | band | songwriter | music video | record label | billboard chart |
        lyrics | pop star | collaboration | debut | singer | new song | track | hip-hop | rock band | country music |
        guitarist | drummer | streaming numbers | spotify | mixtape | ep | producer | recording studio | vocals |
        chart-topping | platinum | genre | ballad | remix | musician | solo career | duet | sophomore album |
        discography | melody | hit song | cover version | concept album | rnb""",
    "concerts": """tour | concert | stadium show | festival | setlist | tickets | encore | headliner | opening act |
        arena | live performance | reunion tour | gig | venue | crowd | mosh pit | coachella | glastonbury |
        sold-out show | backstage | soundcheck | tour dates | world tour | farewell tour | amphitheater |
        ticketmaster | presale | resale prices | fans sang along | light show | pyrotechnics | residency |
        las vegas residency | acoustic set | music festival | lineup announcement | stage | show | touring |
        concertgoers | live album | front row""",
    "movienews": """trailer | director | sequel | superhero | casting | screenplay | franchise | studio | premiere |
        remake | filming | cinematic universe | movie | film | actor | marvel | dc comics | prequel | reboot film |
        box set | production | release date | screenwriter | filmmaker | cinema | visual effects | stunt |
        storyline | plot | spoilers | post-credits scene | blockbuster franchise | indie film | animated film |
        script | hollywood studio | film festival | cast member | teaser | cameo role | spin-off film |
        shooting schedule""",
    "boxoffice": """box office | opening weekend | ticket sales | blockbuster | theaters | domestic gross |
        projections | flop | record debut | holdovers | studio estimates | grossed | moviegoers | global haul |
        international box office | gross receipts | weekend estimates | number one spot | second weekend | drop-off |
        screens | cinemas | admissions | highest-grossing | million dollars | billion mark | tracking |
        previews | thursday night | matinee | imax | premium formats | rankings | chart | underperformed |
        surprise hit | sleeper hit | dud | receipts | takings | ticket buyers | debut weekend""",
    "tvnews": """season finale | showrunner | sitcom | episode | cast | network | reboot | spinoff | ratings |
        late-night host | cliffhanger | reality show | television | tv series | drama series | pilot |
        renewal | cancellation | primetime | nielsen | viewers | broadcast | cable | abc | nbc | cbs | fox |
        talk show host | game show | soap opera | season premiere | guest star | writers room | tv critic |
        comedy series | anthology | episode recap | character arc | midseason | tv host | small screen |
        channel""",
    "streaming": """streaming service | netflix | subscribers | binge-watch | original series | docuseries |
        miniseries | password sharing | streaming deal | watchlist | premiere date | hulu | disney plus |
        hbo max | amazon prime video | apple tv | peacock | streaming wars | subscription price | ad-supported tier |
        content library | algorithm picks | new on streaming | drops all episodes | limited series | true crime |
        streaming platform | top 10 | viewing hours | cord cutting | on demand | streamer | subscription |
        exclusive | licensing | catalog | free trial | series premiere | documentary | what to watch |
        stream | binge""",
}.items()}
