"""Item identity: one `uri` per story, however and wherever it is found.

A feed entry (or a submission without a `uri`) is known by up to three
*identity keys*, strongest first:

1. its guid/id, scoped to the source: `guid:<source>:<sha256(guid)>`;
2. its canonical link, global: `link:<sha256(canonical link without scheme)>`;
3. only when it has neither: its title and date (and, without a title, its
   text and media), scoped to the source.

Each key is an alias of one uri in Redis (`ingest:{news.ingested}:alias:<key>`),
bound once and never moved. The rules, all applied in one Lua script:

- **Distinct guids are distinct items.** An entry with a guid is its guid's
  item. When its guid is new it may join the item its link already names
  (the same story posted through the API, or syndicated by another source)
  — unless another guid of the same source has claimed that item
  (`ingest:{news.ingested}:claim:<source>:<uri>`): a podcast whose every
  `<link>` is the show's home page is one item per episode, not one item.
  A new item is minted from the link when the link names none yet
  (`urn:newsfeed:link:<sha256[:24]>`, so the API and the feed agree even
  before either is seen), else from source and guid.
- **A link identifies an entry without a guid**: the first of its keys
  already bound names the item, and the others are bound to it.
- A retitled entry keeps its uri: its guid (or, without one, its link)
  still names it.
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
    none of them names an item yet. `guid` is set when the first key is the
    entry's guid: then the rules for guids apply (see the module)."""

    keys: tuple[str, ...]
    minted: str
    guid: GuidClaim | None = None


@dataclass(frozen=True)
class GuidClaim:
    """What an entry with a guid needs: its source, its guid's hash and the uri
    to mint from the guid when its link already names another guid's item."""

    source: str
    digest: str
    guid_uri: str


def entry_identity(
    source: str,
    guid: str | None,
    link: str | None,
    title: str,
    date: str | None,
    content: str = "",
) -> Identity:
    """Identity of a feed entry. `link` must already be canonical; `date` is
    the entry's own date as given (never the fetch time, which changes).
    `content` (its text, its media) tells apart entries that have no guid, no
    link and no title either: RSS 0.92 items may be a description alone."""
    guid = " ".join(guid.split()) if guid else None
    if guid:
        digest = _sha(guid)
        claim = GuidClaim(source, digest, guid_uri(source, guid))
        if link:
            link_key = f"link:{_sha(_link_identity(link))}"
            return Identity((f"guid:{source}:{digest}", link_key), link_uri(link), claim)
        return Identity((f"guid:{source}:{digest}",), claim.guid_uri, claim)
    if link:
        return Identity((f"link:{_sha(_link_identity(link))}",), link_uri(link))
    if not title.strip() and content:
        date = f"{date or ''}\x00{content}"
    text = _fallback_text(title, date or "")
    return Identity((f"entry:{source}:{_sha(text)}",), fallback_uri(source, title, date or ""))


def link_identity(canonical: str) -> Identity:
    """Identity of a submission that carries a link but no uri."""
    return Identity((f"link:{_sha(_link_identity(canonical))}",), link_uri(canonical))


def alias_key(key: str) -> str:
    return f"ingest:{{{INGESTED}}}:alias:{key}"


def claim_prefix(source: str) -> str:
    return f"ingest:{{{INGESTED}}}:claim:{source}:"


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

# An entry with a guid. KEYS[1]: its guid's alias, KEYS[2] (optional): its
# link's. ARGV: [1] the uri to mint from the link (or the guid), [2] the uri to
# mint from the guid, [3] the guid's hash, [4] the source's claim key prefix.
# The claim keys are named from a uri found here, in the same hash-tagged slot.
_RESOLVE_GUID = """
local uri = redis.call('GET', KEYS[1])
if not uri then
  local function free(candidate)
    local owner = redis.call('GET', ARGV[4] .. candidate)
    return (not owner) or owner == ARGV[3]
  end
  local linked = KEYS[2] and redis.call('GET', KEYS[2])
  if linked and free(linked) then
    uri = linked
  elseif not linked and free(ARGV[1]) then
    uri = ARGV[1]
  else
    uri = ARGV[2]
  end
  redis.call('SET', KEYS[1], uri, 'NX')
  uri = redis.call('GET', KEYS[1])
end
redis.call('SET', ARGV[4] .. uri, ARGV[3], 'NX')
if KEYS[2] then redis.call('SET', KEYS[2], uri, 'NX') end
return uri
"""


class IdentityIndex:
    """The alias index in Redis: identity key -> uri, bound once, never moved."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._resolve = redis.register_script(_RESOLVE)
        self._resolve_guid = redis.register_script(_RESOLVE_GUID)

    async def resolve(self, identity: Identity) -> str:
        claim = identity.guid
        if claim is None:
            return str(await self._resolve(keys=_keys(identity.keys), args=[identity.minted, "0"]))
        args = [identity.minted, claim.guid_uri, claim.digest, claim_prefix(claim.source)]
        return str(await self._resolve_guid(keys=_keys(identity.keys), args=args))

    async def bind(self, keys: Sequence[str], uri: str) -> None:
        """Bind still-unbound keys to an explicit uri (a submission's own)."""
        if keys:
            await self._resolve(keys=_keys(keys), args=[uri, "1"])


def _keys(keys: Sequence[str]) -> list[str]:
    return [alias_key(key) for key in keys]
