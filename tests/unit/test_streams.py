"""Stream entry ids as Redis takes them: two ASCII numbers of at most 64 bits."""

from __future__ import annotations

import pytest
from shared.streams import LAST_ENTRY_ID, is_entry_id


@pytest.mark.parametrize("value", ["0-0", "1732480000000-0", "1-1", LAST_ENTRY_ID])
def test_ids_redis_hands_out_are_entry_ids(value: str) -> None:
    assert is_entry_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1",
        "1-",
        "-1",
        "1-2-3",
        "a-1",
        " 1-1",
        "+1-1",
        f"{2**64}-0",
        f"0-{2**64}",
        "1" * 21 + "-0",
        "\u0661-0",
    ],
)
def test_anything_else_is_not(value: str) -> None:
    assert not is_entry_id(value)
