"""Opaque keyset cursors: the last feed member a page showed, base64url-encoded."""

from __future__ import annotations

import base64
import binascii

from shared.readmodel.keys import STAMP_DIGITS


class BadCursor(ValueError):
    """A cursor that this read model did not hand out."""


def encode_cursor(member: str) -> str:
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = (cursor + "=" * (-len(cursor) % 4)).encode()
        member = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BadCursor("cursor is not one this feed handed out") from error
    stamp, sep, uri = member.partition("|")
    if not sep or len(stamp) != STAMP_DIGITS or not stamp.isdigit() or not uri:
        raise BadCursor("cursor is not one this feed handed out")
    return member
