"""A typical item of the newsroom's wire (a story of about 250 words with people,
organisations, places and a quote, in HTML paragraphs): what the service
enriches once at start, so that its data loads before it reports ready, and
what `enrichment.bench` times."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.items import NewsItem

PARAGRAPHS = (
    "Russia's deputy foreign minister Mikhail Galuzin told the state news agency TASS on "
    "Tuesday that Moscow would consider talks only if Kyiv dropped its bid to join NATO and "
    "the European Union and accepted what he called the new realities on the ground.",
    "Galuzin repeated the Kremlin's position that any settlement must take into account the "
    "regions Russia claims to have annexed, a demand Ukraine has rejected since the start of "
    "the full-scale invasion.",
    "Andriy Yermak, head of the Presidential Office, answered on Telegram that Ukraine would "
    "not negotiate about its territory while Russian troops remained on Ukrainian soil.",
    "“Restoration of our borders, compensation for the damage and justice for war crimes are "
    "not bargaining chips,” President Volodymyr Zelensky said in his evening address.",
    "Foreign Minister Andrii Sybiha met his Polish counterpart Radosław Sikorski in Warsaw on "
    "Wednesday to discuss air defense and the next steps on Ukraine's path to EU membership.",
    "Meanwhile, Russian drones struck energy facilities in Kharkiv and Odesa overnight, "
    "leaving thousands of households without power, the grid operator Ukrenergo said.",
    "Analysts say the Kremlin's conditions are meant for a domestic audience and for "
    "Washington, where officials have been working on a draft peace framework with both "
    "sides. European leaders insist that no agreement on Ukraine can be reached without "
    "Ukraine and without Europe at the table.",
)


def typical_item(n: int = 0, language: str | None = None) -> NewsItem:
    """The typical item; `n` varies a number in it, so that items differ (no
    cache keyed by text can serve one item's work to the next)."""
    at = datetime(2026, 1, 7, 10, 0, tzinfo=UTC)
    paragraphs = (*PARAGRAPHS[:-1], f"Air defense shot down {n} drones overnight. {PARAGRAPHS[-1]}")
    return NewsItem(
        uri=f"urn:newsfeed:bench:typical-{n}",
        version=1,
        firstcreated=at,
        versioncreated=at,
        headline="Kremlin sets conditions for talks as Kyiv rejects any deal on its territory",
        body_html="".join(f"<p>{p}</p>" for p in paragraphs),
        source="kyiv-independent",
        language=language,
    )
