"""Realistic benchmark items: about 250 words each, in the style of the seed article.

The sentences are the harness's own; names of places, institutions and public
office holders make the enrichers (entities, places, tags, quotes) do the
work they do on real copy, and the filled-in slots make every item different
(so related-story clustering and deduplication see distinct stories). The
corpus is deterministic for a seed, so every run of a benchmark submits the
same bytes.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from shared.events import EventType, encode, make_event, new_trace_id
from shared.items import Author, NewsItem

PEOPLE = (
    "President Volodymyr Zelensky",
    "Prime Minister Denys Shmyhal",
    "Foreign Minister Andrii Sybiha",
    "Cypriot President Nikos Christodoulides",
    "European Commission President Ursula von der Leyen",
    "NATO Secretary General Mark Rutte",
    "Polish Prime Minister Donald Tusk",
    "German Chancellor Friedrich Merz",
)
SPOKESPEOPLE = (
    ("Olena Marchenko", "a spokesperson for the ministry"),
    ("Taras Hnatiuk", "an adviser to the regional governor"),
    ("Iryna Kovalenko", "who leads the city's emergency service"),
    ("Mykola Danyliuk", "a deputy head of the regional administration"),
    ("Sofia Lysenko", "an economist at a Kyiv research institute"),
    ("Andriy Bondar", "the mayor's chief of staff"),
)
CITIES = (
    "Kyiv",
    "Kharkiv",
    "Odesa",
    "Lviv",
    "Dnipro",
    "Zaporizhzhia",
    "Mykolaiv",
    "Poltava",
    "Chernihiv",
    "Sumy",
    "Vinnytsia",
    "Kherson",
)
CAPITALS = ("Nicosia", "Brussels", "Warsaw", "Berlin", "Paris", "Vilnius", "Rome", "London")
ORGS = (
    "the European Union",
    "NATO",
    "the United Nations",
    "the International Monetary Fund",
    "the World Bank",
    "the International Atomic Energy Agency",
    "the Council of Europe",
)
UTILITIES = ("Ukrenergo", "Naftogaz", "Ukrzaliznytsia", "DTEK")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

HEADLINES = (
    "{person} meets officials in {capital} to discuss {topic}",
    "{city} restores power to {n} homes after overnight attack",
    "{org} pledges new support for {topic} in Ukraine",
    "Talks in {capital} end without agreement on {topic}",
    "{city} council approves plan for {topic} before winter",
    "Officials in {city} report progress on {topic}",
    "{utility} warns of scheduled outages in {city} region",
    "Grain shipments from {city} rise for third month, officials say",
)
TOPICS = (
    "air defence",
    "energy repairs",
    "reconstruction funding",
    "grain exports",
    "sanctions enforcement",
    "prisoner exchanges",
    "EU accession talks",
    "housing for displaced families",
    "demining of farmland",
    "railway links",
)

LEADS = (
    "{person} arrived in {capital} on {weekday} for talks with officials of {org} on {topic}, "
    "according to a statement published by the presidential office.",
    "Engineers in {city} worked through the night to reconnect {n} households after a drone "
    "and missile attack damaged a substation, {utility} said on {weekday}.",
    "{org} will provide {money} million euros over the next two years to support {topic}, "
    "officials announced at a meeting in {capital} on {weekday}.",
    "Negotiators meeting in {capital} this week failed to settle their differences over "
    "{topic}, but agreed to resume the talks before the end of {month}.",
)
MIDDLES = (
    "The meeting focused on how quickly new equipment could be delivered and on who would "
    "pay for its maintenance once the first deliveries arrive.",
    "Local officials said repair crews had been working in difficult conditions, with "
    "temperatures falling below freezing and several roads still closed.",
    "The plan sets out priorities for the coming months, starting with schools, hospitals "
    "and water treatment plants that were damaged earlier in the year.",
    "Residents in several districts of {city} were asked to limit the use of heavy "
    "appliances in the evening while the network is being stabilized.",
    "According to the regional administration, {n} people have registered for temporary "
    "housing since the start of {month}, most of them families with children.",
    "The agreement still has to be approved by national parliaments, a process that "
    "diplomats expect to take at least several weeks.",
    "Farmers in the south have cleared mines from about {pct} percent of the fields they "
    "hope to sow this season, according to the agriculture ministry.",
    "Rail traffic between {city} and {city2} resumed on {weekday} after a damaged bridge "
    "was repaired ahead of schedule.",
    "The ministry said the funds would be spent through local authorities, which must "
    "publish their contracts online within ten days of signing them.",
    "Observers from {org} visited the site on {weekday} and said they would publish a "
    "detailed assessment once their inspection was complete.",
    "Officials said the number of ships leaving ports near {city} had grown steadily, "
    "with {n} vessels departing since the start of {month}.",
    "Independent analysts cautioned that the figures were preliminary and could change "
    "once the full data for the quarter became available.",
)
QUOTES = (
    "\u201cWe have a clear plan for the next stage, and we expect our partners to keep "
    "their promises,\u201d said {speaker}, {role}.",
    "\u201cEvery household that gets its heating back before the frost is a small victory "
    "for the whole city,\u201d {speaker}, {role}, told reporters.",
    "\u201cThe work is slower than we would like, but it is moving in the right "
    "direction,\u201d said {speaker}, {role}.",
    "\u201cWe need predictable funding rather than promises made one month at a time,\u201d "
    "{speaker}, {role}, said in an interview.",
)
CLOSERS = (
    "{person} is expected to discuss the results with {org} leaders at a summit in "
    "{capital} later in {month}.",
    "The next round of talks is planned for {month}, though no date has been set.",
    "Officials in {city} said they would give an update on the repairs on {weekday}.",
    "The government said it would publish a full report on the programme by the end of {month}.",
)
DESKS = (
    Author(
        name="Newsfeed news desk",
        role="News desk",
        biography="The news desk keeps this feed moving through the day: short, checked "
        "updates on the war in Ukraine and the diplomacy around it, corrected in the open "
        "when something turns out to be wrong.",
        avatar_url="https://static.example.org/newsfeed-demo/avatars/news-desk.png",
    ),
    Author(
        name="Economy desk",
        role="Desk",
        biography="Reporting on Ukraine's economy, energy system and reconstruction.",
    ),
    Author(
        name="Regional desk",
        role="Desk",
        biography="Correspondents in Ukraine's regions, from Kharkiv to Odesa.",
    ),
)

TARGET_WORDS = 250


def _slots(rng: random.Random) -> dict[str, str]:
    speaker, role = rng.choice(SPOKESPEOPLE)
    city, city2 = rng.sample(CITIES, 2)
    return {
        "person": rng.choice(PEOPLE),
        "speaker": speaker,
        "role": role,
        "city": city,
        "city2": city2,
        "capital": rng.choice(CAPITALS),
        "org": rng.choice(ORGS),
        "utility": rng.choice(UTILITIES),
        "topic": rng.choice(TOPICS),
        "weekday": rng.choice(WEEKDAYS),
        "month": rng.choice(MONTHS),
        "n": f"{rng.randint(120, 48_000):,}",
        "money": str(rng.randint(5, 900)),
        "pct": str(rng.randint(10, 90)),
    }


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def article(rng: random.Random) -> tuple[str, str]:
    """(headline, body_html) of about TARGET_WORDS words."""
    slots = _slots(rng)
    headline = _capitalize(rng.choice(HEADLINES).format(**slots))
    paragraphs = [rng.choice(LEADS).format(**slots)]
    middles = rng.sample(MIDDLES, len(MIDDLES))
    quotes = rng.sample(QUOTES, 2)
    words = len(paragraphs[0].split())
    while words < TARGET_WORDS - 25 and middles:
        sentences = [middles.pop().format(**slots)]
        if middles and rng.random() < 0.5:
            sentences.append(middles.pop().format(**slots))
        if quotes and rng.random() < 0.35:
            sentences.append(quotes.pop().format(**slots))
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        words += len(paragraph.split())
    paragraphs.append(rng.choice(CLOSERS).format(**slots))
    body = "".join(f"<p>{_capitalize(p)}</p>" for p in paragraphs)
    return headline, body


def submission(i: int, prefix: str, rng: random.Random) -> dict[str, Any]:
    """One item as an editor's client POSTs it to ingest's /v1/items."""
    headline, body = article(rng)
    desk = DESKS[i % len(DESKS)]
    return {
        "uri": f"{prefix}:{i:07d}",
        "type": "video" if i % 20 == 19 else "text",
        "headline": headline,
        "body_html": body,
        "authors": [desk.model_dump(mode="json", exclude_none=True)],
    }


def corpus(count: int, prefix: str = "urn:bench:item", seed: int = 8) -> list[dict[str, Any]]:
    """`count` submissions, the same for the same arguments."""
    rng = random.Random(f"{seed}:{prefix}")
    return [submission(i, prefix, rng) for i in range(count)]


def news_item(sub: dict[str, Any], at: datetime) -> NewsItem:
    """The submission as ingest turns it into version 1 of an item (ingest.submission.to_item)."""
    return NewsItem(
        uri=sub["uri"],
        version=1,
        firstcreated=at,
        versioncreated=at,
        type=sub["type"],
        headline=sub["headline"],
        body_html=sub["body_html"],
        authors=tuple(Author.model_validate(a) for a in sub["authors"]),
        source="api",
    )


def ingested_fields(sub: dict[str, Any], at: datetime) -> dict[str, str]:
    """The news.ingested entry ingest would append for this submission."""
    item = news_item(sub, at)
    return encode(make_event(EventType.ingested, "/newsfeed/ingest", item, new_trace_id(), at))


def word_count(sub: dict[str, Any]) -> int:
    text = sub["body_html"].replace("</p><p>", " ").removeprefix("<p>").removesuffix("</p>")
    return len(text.split())
