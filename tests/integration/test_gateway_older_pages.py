"""Older pages (with a cursor) come from memory the second time, and an event
that changes what they show is seen on the next request, as on the first page."""

from __future__ import annotations

from shared.items import PubStatus

from tests.support.builders import news_item
from tests.support.gateway_env import Env, tagged, uris
from tests.support.redis_stats import redis_calls

# PAGE (5) items a page: 12 items make pages of 5, 5 and 2.
STORIES = [news_item(f"urn:s:{i:02d}", minute=i, headline=f"Story {i}") for i in range(12)]


async def second_page_cursor(env: Env, path: str = "/v1/feed") -> str:
    cursor = (await env.get(f"{path}{'&' if '?' in path else '?'}limit=5")).json()["next_cursor"]
    assert isinstance(cursor, str)
    return cursor


async def test_an_older_page_is_answered_from_memory_the_second_time(env: Env) -> None:
    await env.publish(*STORIES)
    cursor = await second_page_cursor(env)
    paths = [
        f"/v1/feed?limit=5&cursor={cursor}",
        f"/feed.rss?cursor={cursor}",
        f"/?cursor={cursor}",
    ]
    first = [(await env.get(path)).content for path in paths]
    before = await redis_calls(env.redis)
    for _ in range(5):
        assert [(await env.get(path)).content for path in paths] == first
    assert await redis_calls(env.redis) == before
    assert uris(await env.get(paths[0])) == [f"urn:s:{i:02d}" for i in (6, 5, 4, 3, 2)]


async def test_an_update_shows_its_new_version_on_an_older_page(env: Env) -> None:
    await env.publish(*STORIES)
    path = f"/v1/feed?limit=5&cursor={await second_page_cursor(env)}"
    assert (await env.get(path)).json()["items"][1]["headline"] == "Story 5"

    await env.publish(STORIES[5].model_copy(update={"version": 2, "headline": "Story 5, revised"}))

    page = (await env.get(path)).json()["items"]
    assert [item["headline"] for item in page][:2] == ["Story 6", "Story 5, revised"]
    assert page[1]["version"] == 2


async def test_a_killed_item_disappears_from_an_older_page(env: Env) -> None:
    await env.publish(*STORIES)
    cursor = await second_page_cursor(env)
    api, html = f"/v1/feed?limit=5&cursor={cursor}", f"/?cursor={cursor}"
    assert "urn:s:04" in uris(await env.get(api))
    assert "Story 4" in (await env.get(html)).text

    await env.publish(STORIES[4].model_copy(update={"version": 2, "pubstatus": PubStatus.canceled}))

    assert uris(await env.get(api)) == [f"urn:s:{i:02d}" for i in (6, 5, 3, 2, 1)]
    assert "Story 4" not in (await env.get(html)).text


async def test_an_item_that_joins_the_range_of_an_older_page_appears_on_it(env: Env) -> None:
    """Inserted below the top: an old story newly tagged, and one published late
    with an old time."""
    await env.publish(*(tagged(story, "Energy") for story in STORIES if story.uri != "urn:s:03"))
    await env.publish(STORIES[3])
    tag_path = (
        f"/v1/feed?tag=energy&limit=5&cursor={await second_page_cursor(env, '/v1/feed?tag=energy')}"
    )
    assert "urn:s:03" not in uris(await env.get(tag_path))
    all_path = f"/v1/feed?limit=5&cursor={await second_page_cursor(env)}"
    assert "urn:late" not in uris(await env.get(all_path))

    await env.publish(tagged(STORIES[3], "Energy", version=2))
    await env.publish(news_item("urn:late", minute=4))

    assert "urn:s:03" in uris(await env.get(tag_path))
    assert "urn:late" in uris(await env.get(all_path))
