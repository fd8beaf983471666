"""Item identity: one `uri` per story, however and wherever it is found.

A feed entry (or a submission without a `uri`) is known by up to three
*identity keys*, strongest first:

1. its guid/id, scoped to the source: `guid:<source>:<sha256(guid)>`;
2. its canonical link, global: `link:<sha256(canonical link without scheme)>`;
3. as a last resort, its title and date, scoped to the source.

Each key is an alias of one uri in Redis (`ingest:{news.ingested}:alias:<key>`).
`IdentityIndex.resolve` takes the uri of the first key already bound and binds
the other keys to it; when none is bound it mints a uri — from the canonical
link when there is one (`urn:newsfeed:link:<sha256[:24]>`), so the same story
posted through the API with `link` and found in a feed is one item even
before either is seen — and binds every key to it. A key never changes its
uri once bound, so an entry whose title *and* link change keeps its uri
through its guid. All of this happens in one Lua script.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from shared.streams import INGESTED

# Query parameters that only say how a reader arrived, never which story it is.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "li_fat_id",
        "wt.mc_id",
        "wt_mc_id",
        "cmpid",
        "ocid",
        "ncid",
        "sr_share",
        "at_medium",
        "at_campaign",
    }
)
TRACKING_PREFIXES = ("utm_", "__hs", "hsa_", "pk_", "mtm_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HASH_CHARS = 24


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str | None:
    """The link as one story's address: http(s) only, lower-case scheme and
    host, no default port, no fragment, no tracking parameters, the remaining
    query sorted. None when `url` is not an absolute http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host or any(c.isspace() for c in url.strip()):
        return None
    try:
        host = host.encode("idna").decode("ascii").lower() if not host.isascii() else host.lower()
    except UnicodeError:
        return None
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _tracking(k)
    )
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def _link_identity(canonical: str) -> str:
    # http and https addresses of one page are one story.
    return canonical.split("://", 1)[1]


def link_uri(canonical: str) -> str:
    return f"urn:newsfeed:link:{_sha(_link_identity(canonical))[:_HASH_CHARS]}"


def guid_uri(source: str, guid: str) -> str:
    return f"urn:newsfeed:src:{source}:{_sha(guid)[:_HASH_CHARS]}"


def fallback_uri(source: str, title: str, date: str) -> str:
    return f"urn:newsfeed:src:{source}:t:{_sha(_fallback_text(title, date))[:_HASH_CHARS]}"


def _fallback_text(title: str, date: str) -> str:
    return " ".join(title.split()).casefold() + "\x00" + date


@dataclass(frozen=True)
class Identity:
    """The identity keys of an entry, strongest first, and the uri to mint if
    none of them is bound yet."""

    keys: tuple[str, ...]
    minted: str


def entry_identity(
    source: str, guid: str | None, link: str | None, title: str, date: str | None
) -> Identity:
    """Identity of a feed entry. `link` must already be canonical; `date` is
    the entry's own date as given (never the fetch time, which changes)."""
    keys: list[str] = []
    minted: str | None = None
    guid = " ".join(guid.split()) if guid else None
    if guid:
        keys.append(f"guid:{source}:{_sha(guid)}")
    if link:
        keys.append(f"link:{_sha(_link_identity(link))}")
        minted = link_uri(link)
    elif guid:
        minted = guid_uri(source, guid)
    if not keys:
        text = _fallback_text(title, date or "")
        keys.append(f"entry:{source}:{_sha(text)}")
        minted = fallback_uri(source, title, date or "")
    assert minted is not None
    return Identity(tuple(keys), minted)


def link_identity(canonical: str) -> Identity:
    """Identity of a submission that carries a link but no uri."""
    return Identity((f"link:{_sha(_link_identity(canonical))}",), link_uri(canonical))


def alias_key(key: str) -> str:
    return f"ingest:{{{INGESTED}}}:alias:{key}"


# KEYS: alias keys, strongest first. ARGV[1]: the uri to mint if none is bound,
# ARGV[2]: '1' to use ARGV[1] whatever is bound (an explicit uri).
_RESOLVE = """
local uri = nil
if ARGV[2] == '1' then
  uri = ARGV[1]
else
  for _, key in ipairs(KEYS) do
    uri = redis.call('GET', key)
    if uri then break end
  end
  if not uri then uri = ARGV[1] end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, uri, 'NX')
end
return uri
"""


class IdentityIndex:
    """The alias index in Redis: identity key -> uri, bound once, never moved."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._resolve = redis.register_script(_RESOLVE)

    async def resolve(self, identity: Identity) -> str:
        return str(await self._resolve(keys=_keys(identity.keys), args=[identity.minted, "0"]))

    async def bind(self, keys: Sequence[str], uri: str) -> None:
        """Bind still-unbound keys to an explicit uri (a submission's own)."""
        if keys:
            await self._resolve(keys=_keys(keys), args=[uri, "1"])


def _keys(keys: Sequence[str]) -> list[str]:
    return [alias_key(key) for key in keys]
