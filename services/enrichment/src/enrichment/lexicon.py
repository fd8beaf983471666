"""Words the heuristics lean on, in English, Ukrainian and Russian.

Cyrillic entries are written as stems (see `nlp.stem`), so every case form
of "міністр" or "президент" meets them. Everything is lowercase; look words
up with `word.lower()` (and `nlp.stem` for Cyrillic).
"""

from __future__ import annotations

from functools import lru_cache

from enrichment.nlp import stem, words


def _stems(text: str) -> frozenset[str]:
    return frozenset(stem(w) for w in text.split())


# A word that, right before or after a name, says the name is a person's.
TITLES = words(
    """
    president vice-president minister premier chancellor secretary spokesperson spokesman
    spokeswoman ambassador envoy general admiral colonel commander commander-in-chief mayor
    governor senator congressman congresswoman lawmaker legislator mp deputy analyst
    journalist correspondent reporter editor dictator leader chief head director chairman
    chairwoman chair speaker prosecutor judge official adviser advisor aide pope patriarch
    king queen prince princess emperor ombudsman commissioner negotiator diplomat economist
    expert researcher professor activist soldier officer captain lieutenant sergeant
    ceo founder coach teacher doctor nurse volunteer student farmer engineer lawyer
    photojournalist photographer cameraman camerawoman videographer producer fixer
    historian scientist writer artist manager owner worker survivor witness resident
    representative chief-of-staff head-of-state staff
    bishop archbishop cardinal rabbi sheikh imam cleric priest reverend sir dame
    lieutenant-colonel lieutenant-general major-general brigadier marshal democrat republican
    striker midfielder defender goalkeeper batsman bowler spinner all-rounder skipper
    champion pitcher quarterback jockey boxer sprinter golfer player rival teammate
    broker trader banker investor executive businessman businesswoman tycoon billionaire
    actor actress singer novelist poet
    gen. lt. col. sgt. maj. adm. capt. dr. mr. mrs. ms. sen. rep. gov. prof.
    """
) | _stems(
    """
    президент прем'єр-міністр премьер-министр міністр министр речник речниця
    пресс-секретарь прессекретарь посол посланник генерал адмірал адмирал полковник
    командувач командующий командир мер мэр губернатор голова глава керівник
    руководитель аналітик аналитик журналіст журналист депутат спікер спикер радник
    советник прокурор суддя судья заступник заместитель очільник лідер лидер диктатор
    експерт эксперт директор канцлер сенатор представник представитель уповноважений
    уполномоченный омбудсман омбудсмен патріарх патриарх
    """
)

# Words that, with a name before them, say the name spoke.
SPEECH_VERBS = words(
    """
    said says told wrote added stated announced noted warned claimed explained stressed
    insisted argued replied responded posted tweeted declared urged emphasized emphasised
    confirmed denied reported commented acknowledged admitted asked
    """
) | _stems(
    """
    сказав сказала сказал заявив заявила заявил написав написала написал додав додала
    добавил добавила повідомив повідомила сообщил сообщила зазначив зазначила отметил
    отметила наголосив наголосила подчеркнул подчеркнула підкреслив підкреслила розповів
    розповіла рассказал рассказала пояснив пояснила пояснил
    """
)

# Capitalized words that never begin or continue a person's name: sentence
# openers, weekdays, months, demonyms, and the like.
NOT_NAME = words(
    """
    a an the this that these those there then thus also and but or nor so yet if as at by
    for from in into of off on onto out over per since than to under until up upon via with
    within without after before during despite following according amid among against
    although because while when where whether which who whom whose what why how however
    meanwhile moreover furthermore nevertheless nonetheless instead still earlier later
    last next first second third on-the-ground it its it's we our they their he his she her
    i you your my me us them here today yesterday tomorrow tonight now once again only even
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december jan feb mar apr jun jul aug
    sep sept oct nov dec
    russian ukrainian american european british french german polish belarusian chinese
    iranian israeli turkish hungarian slovak czech italian spanish japanese korean
    north-korean western eastern southern northern soviet crimean donbas kremlin-backed
    pro-russian pro-kremlin russian-occupied russia-backed
    video photo read more update updated breaking exclusive live opinion analysis
    mr mrs ms dr
    foreign defense defence interior prime deputy vice economy economic finance justice
    health energy culture education digital social policy affairs security national state
    supreme acting former ex interim presidential parliamentary first lady armed air naval
    military regional city high special joint central federal international global civil
    human rights emergency infrastructure veterans internal external trade agriculture
    environment intelligence strategic communications press public integration
    reintegration development communities territories industries transformation resources
    protection innovation reconstruction restoration recovery science youth sports family
    """
) | _stems(
    """
    у в на з із зі до від по при про через після під над між та і й але або що як це цей
    ця ці той та ті там тут також вже ще лише коли де чому бо проте однак водночас зокрема
    раніше пізніше сьогодні вчора завтра
    и а но или что как это этот эта эти тот там тут также уже еще только когда где почему
    потому однако при этом ранее позже сегодня вчера завтра
    понеділок вівторок середа четвер п'ятниця субота неділя
    понедельник вторник среда четверг пятница суббота воскресенье
    січень лютий березень квітень травень червень липень серпень вересень жовтень листопад
    грудень январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь
    російський український американський европейський русский украинский американский
    европейский
    """
)

# Last words of an organisation's name.
ORG_HEADS = words(
    """
    ministry council committee commission agency service office forces force army navy
    guard party parliament court bank fund union university institute foundation
    corporation company group organization organisation association administration
    department bureau directorate authority police rada duma assembly senate congress
    cabinet government command federation alliance network agency center centre
    headquarters post times journal herald tribune gazette telegraph guardian chronicle
    news club inc corp corp. co co. ltd ltd. plc llc bros bros. brothers holdings airlines airways
    motors industries
    """
) | _stems(
    """
    міністерство министерство рада совет комітет комитет комісія комиссия агентство
    служба офіс офис сили силы армія армия партія партия парламент суд банк фонд союз
    університет университет інститут институт корпорація корпорация компанія компания
    група группа організація организация асоціація ассоциация адміністрація
    администрация департамент бюро управління управление поліція полиция дума асамблея
    ассамблея уряд правительство
    """
)

# Words that join the parts of an organisation's name: "Ministry of Foreign Affairs".
ORG_JOINERS = words("of for and the on")

# Days and months: "Kyiv Tuesday" in a headline is still Kyiv.
TIME_WORDS = words(
    """
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december jan feb mar apr jun jul aug
    sep sept oct nov dec
    """
)

# Words before a name that are not part of it and say nothing about it.
OPENERS = words(
    """
    the a an in on at for from by with after before following despite according during
    under and but or while when as of to since until amid among
    """
)

# Lowercase words that put a place name right after them: "in Reading".
LOCATIVES = words(
    """
    in into from to near outside inside across around toward towards via through at of
    у в на з із до біля під поблизу від во под около возле из
    """
)

# Sports named in a headline ("CRICKET - LEICESTERSHIRE TAKE OVER AT TOP",
# "Tennis: Seles beats Spirlea"): in such an item a city or a county is
# usually the team that plays there.
SPORTS = words(
    """
    soccer football cricket baseball basketball tennis golf rugby hockey athletics cycling
    boxing skiing swimming volleyball handball motorcycling nba nfl nhl
    """
)

# Words before a place that keep it a place in a sports item ("the match in
# Leeds", "at Headingley"); not "to" or "of" ("lost to Boston", "fans of Kent").
SPORTS_LOCATIVES = words("in at near from outside inside across around via through")

# Particles inside people's names: "Ursula von der Leyen", "Bashar al-Assad".
NAME_PARTICLES = words("von van der den de del della da di du la le bin ibn al")


# The questions below are asked about the same few thousand words over and
# over (every capitalized word, every word around a name): each answer is
# kept, so asking again is one dictionary lookup.
@lru_cache(maxsize=16384)
def is_title(word: str) -> bool:
    return bool(classify(word) & TITLE)


@lru_cache(maxsize=16384)
def is_speech_verb(word: str) -> bool:
    return bool(classify(word) & SPEECH)


@lru_cache(maxsize=16384)
def is_org_head(word: str) -> bool:
    return bool(classify(word) & ORG_HEAD)


# -- one lookup per word ---------------------------------------------------------

NOT_A_NAME = 1
TITLE = 2
ORG_HEAD = 4
SPEECH = 8


@lru_cache(maxsize=16384)
def classify(word: str) -> int:
    """The bits above that apply to `word` (any case, possessive allowed)."""
    lower = word.lower()
    for suffix in ("'s", "’s"):
        if lower.endswith(suffix):
            lower = lower[: -len(suffix)]
    stemmed = stem(lower)
    bits = 0
    if lower in NOT_NAME or stemmed in NOT_NAME:
        bits |= NOT_A_NAME
    if lower in TITLES or stemmed in TITLES:
        bits |= TITLE
    if lower in ORG_HEADS or stemmed in ORG_HEADS:
        bits |= ORG_HEAD
    if lower in SPEECH_VERBS or stemmed in SPEECH_VERBS:
        bits |= SPEECH
    return bits


@lru_cache(maxsize=16384)
def is_name_word(word: str) -> bool:
    """Could be part of a person's name: capitalized, not an acronym, not a
    title, an opener, a demonym, an organisation word or a speech verb."""
    return (
        word[0].isupper()
        and not (word.isupper() and len(word) > 1)
        and not classify(word) & (NOT_A_NAME | TITLE | ORG_HEAD | SPEECH)
    )
