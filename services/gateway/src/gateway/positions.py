"""Positions in news.published: one entry id per partition, as a live-update
client holds one (its Last-Event-ID) and the tail tracks its own."""

from __future__ import annotations

from shared.streams import is_entry_id

EntryKey = tuple[int, int]
Position = tuple[EntryKey, ...]
START: EntryKey = (0, 0)


def entry_key(entry_id: str) -> EntryKey:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def format_position(position: Position) -> str:
    return ".".join(f"{ms}-{seq}" for ms, seq in position)


def parse_position(text: str) -> Position | None:
    """A position as a client sends it back; `0` is the start of every partition.
    None if it is not a position at all (a 400); its length is checked by the tail."""
    if text == "0":
        return ()
    parts = text.split(".")
    if not all(is_entry_id(part) for part in parts):
        return None
    return tuple(entry_key(part) for part in parts)
