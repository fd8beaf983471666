"""Redis ACL users, one per service, each allowed exactly the commands it uses
on exactly the keys it uses them on.

The rules live here once; `python -m shared.acl --out FILE` renders a Redis
ACL file from them, with passwords from NEWSFEED_REDIS_PASSWORD_<SERVICE>
(and NEWSFEED_REDIS_PASSWORD_ADMIN for operators and the `newsfeed` CLI).
docker-compose.yml runs this in a one-shot container before Redis starts.

A user is a list of grants, each a set of commands on a set of key patterns;
the first is the user's root permissions, the others Redis 7 selectors. A
command is allowed when one grant allows it on every key it names, so "XADD
on my output stream" and "HSET on my state" do not add up to "XADD on my
state" or "DEL on my output stream". Stream patterns end in `*` so the
partitioned names (`news.ingested:{nf16.3.40}`, shared.partitions) match too.

What each user may do (every one may also read every stage's stream status,
for /metrics and /readyz, and create the consumer groups at start-up):

- ingest: append to and trim news.ingested; its own `ingest:*` keys; list,
  drop and replay dead letters (replay into news.ingested only).
- enrichment: consume news.ingested; append to and trim news.enriched;
  dead-letter; its own `enrichment:*` and `delivery:*` keys. Its second pass
  (the entity model, NEWSFEED_SECOND_PASS) runs as this user too and also
  consumes news.enriched (ACLs cannot tell one consumer group from another).
- publication: consume news.enriched; append to and trim news.published;
  dead-letter; the read model `rm:*` and `delivery:*` keys.
- gateway: read `rm:*` and news.published, nothing else, write nothing.

Refused to every service user: XADD to a stream not its own, DEL/UNLINK/
XTRIM/XDEL of any stream but its own (ingest: the dead letters it drops),
XGROUP DESTROY/SETID, XSETID, FUNCTION, SCRIPT FLUSH/KILL, and everything
Redis marks dangerous (FLUSHALL, KEYS, CONFIG, DEBUG, ...).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.delivery.groups import PARTITIONS_KEY
from shared.streams import DEAD_LETTER, ENRICHED, INGESTED, PUBLISHED


def stream(name: str) -> str:
    """A stream and its partitions (`name:{tag}`)."""
    return f"{name}*"


@dataclass(frozen=True)
class Grant:
    """Commands (`xadd`, `xgroup|create`) allowed on keys matching `keys`
    (`~pattern` read-write, `%R~pattern` read-only); no keys: keyless commands."""

    commands: tuple[str, ...]
    keys: tuple[str, ...] = ()

    def rules(self) -> list[str]:
        return [*self.keys, *(c if c.startswith("-") else f"+{c}" for c in self.commands)]


@dataclass(frozen=True)
class ServiceUser:
    name: str
    grants: tuple[Grant, ...]


# Connecting, naming the connection, transactions, loading the scripts we call,
# and what a Redis Cluster client asks to find the nodes and follow redirects.
# (@connection minus what is dangerous: no CLIENT KILL, no CLIENT LIST.)
CONNECTION = Grant(
    (
        "@connection",
        "-@dangerous",
        "info",
        "cluster|slots",
        "cluster|shards",
        "cluster|info",
        "readonly",
        "asking",
        "multi",
        "exec",
        "discard",
        "script|load",
        "script|exists",
        # The dead-letter script reads the clock for an id unique across partitions.
        "time",
    )
)
# Every service reads the partition count the data was written with (writers
# record it on first start: SET NX GET).
PARTITION_COUNT = Grant(("get", "set"), (f"~{PARTITIONS_KEY}",))
# /metrics, /readyz and `ensure_groups` look at every stage's stream.
STREAM_STATUS = Grant(
    ("exists", "xlen", "xinfo|groups", "xinfo|stream", "xpending"),
    tuple(f"%R~{stream(name)}" for name in (INGESTED, ENRICHED, PUBLISHED, DEAD_LETTER)),
)
# Every service creates every group at start-up (shared.delivery.ensure_groups).
CREATE_GROUPS = Grant(("xgroup|create",), (f"~{stream(INGESTED)}", f"~{stream(ENRICHED)}"))
SCRIPTS = ("evalsha", "eval")
HASHES = ("hget", "hgetall", "hset", "hsetnx", "hdel", "hlen", "hincrby", "hmget")


def appends_to(name: str) -> Grant:
    """A service's own output: append, trim (never past unacknowledged work)."""
    return Grant(("xadd", "xtrim", "xlen", "xinfo|groups", "xpending"), (f"~{stream(name)}",))


def consumes(name: str) -> Grant:
    """A consumer group's reads, acks, claims and consumer housekeeping."""
    return Grant(
        (
            "xreadgroup",
            "xack",
            "xclaim",
            "xautoclaim",
            "xpending",
            "xinfo|consumers",
            "xinfo|groups",
            "xgroup|createconsumer",
            "xgroup|delconsumer",
        ),
        (f"~{stream(name)}",),
    )


def worker(input_: str, output: str) -> tuple[Grant, ...]:
    return (
        consumes(input_),
        appends_to(output),
        Grant(("xadd",), (f"~{stream(DEAD_LETTER)}",)),
        Grant(HASHES, ("~delivery:*",)),
        # A settle or dead-lettering run as one script: its keys span these.
        Grant(
            SCRIPTS,
            (
                f"~{stream(input_)}",
                f"~{stream(output)}",
                f"~{stream(DEAD_LETTER)}",
                "~delivery:*",
            ),
        ),
    )


USERS = (
    ServiceUser(
        "ingest",
        (
            CONNECTION,
            STREAM_STATUS,
            CREATE_GROUPS,
            PARTITION_COUNT,
            appends_to(INGESTED),
            Grant(
                (
                    *HASHES,
                    *SCRIPTS,
                    "get",
                    # With NEWSFEED_ACK_REPLICAS an unchanged resubmission sets a
                    # marker in the item's slot before its WAIT (shared.replicated).
                    "set",
                    "del",
                    "zadd",
                    "zrem",
                    "zrangebyscore",
                    "zscore",
                    "pfadd",
                    "pfcount",
                    # Item states of the single-slot layout moved once at start.
                    "scan",
                    "renamenx",
                ),
                ("~ingest:*",),
            ),
            # The accept script: the item's state and the XADD, atomically.
            Grant(SCRIPTS, ("~ingest:*", f"~{stream(INGESTED)}")),
            # The dead-letters API: list, show, drop; replay appends to news.ingested.
            Grant(("xrange", "xdel"), (f"~{stream(DEAD_LETTER)}",)),
        ),
    ),
    ServiceUser(
        "enrichment",
        (
            CONNECTION,
            STREAM_STATUS,
            CREATE_GROUPS,
            PARTITION_COUNT,
            *worker(INGESTED, ENRICHED),
            # The second pass reads what it appends to.
            consumes(ENRICHED),
            Grant(SCRIPTS, (f"~{stream(ENRICHED)}", f"~{stream(DEAD_LETTER)}", "~delivery:*")),
            Grant(
                (
                    *HASHES,
                    "get",
                    "set",
                    "mget",
                    "zadd",
                    "zrem",
                    "zrange",
                    "zrangebyscore",
                    "xadd",
                    "xrange",
                    "xrevrange",
                ),
                ("~enrichment:*",),
            ),
        ),
    ),
    ServiceUser(
        "publication",
        (
            CONNECTION,
            STREAM_STATUS,
            CREATE_GROUPS,
            PARTITION_COUNT,
            *worker(ENRICHED, PUBLISHED),
            Grant(
                (
                    *HASHES,
                    *SCRIPTS,
                    "get",
                    "set",
                    "mget",
                    "del",
                    "pexpire",
                    "lpush",
                    "ltrim",
                    "lrange",
                    "zadd",
                    "zrem",
                    "zrange",
                    "zrangebyscore",
                    "zcard",
                ),
                ("~rm:*",),
            ),
            # The read-model scripts write the document and the published event at once.
            Grant(SCRIPTS, ("~rm:*", f"~{stream(PUBLISHED)}")),
        ),
    ),
    ServiceUser(
        "gateway",
        (
            CONNECTION,
            STREAM_STATUS,
            Grant(("get",), (f"%R~{PARTITIONS_KEY}",)),
            Grant(("@read", "-@dangerous"), ("%R~rm:*", f"%R~{stream(PUBLISHED)}")),
        ),
    ),
)


def password_rule(password: str) -> str:
    """The password as a SHA-256 rule, so the ACL file holds no plaintext."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def acl_line(user: ServiceUser, password: str) -> str:
    root, *selectors = user.grants
    return " ".join(
        [
            "user",
            user.name,
            "reset",  # no keys, channels, commands or selectors but the ones below
            "on",
            password_rule(password),
            *root.rules(),
            *(f"({' '.join(grant.rules())})" for grant in selectors),
        ]
    )


def render(passwords: dict[str, str], admin_password: str) -> str:
    lines = [
        # The default user is off: every connection names its user.
        "user default off",
        f"user admin on {password_rule(admin_password)} ~* &* +@all",
        *(acl_line(user, passwords[user.name]) for user in USERS),
    ]
    return "\n".join(lines) + "\n"


class AclSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSFEED_REDIS_PASSWORD_", extra="ignore")

    admin: SecretStr = Field(min_length=16)
    ingest: SecretStr = Field(min_length=16)
    enrichment: SecretStr = Field(min_length=16)
    publication: SecretStr = Field(min_length=16)
    gateway: SecretStr = Field(min_length=16)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the Redis ACL file for newsfeed.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = AclSettings()
    passwords = {user.name: getattr(settings, user.name).get_secret_value() for user in USERS}
    args.out.write_text(render(passwords, settings.admin.get_secret_value()))
    # Hashes only, and Redis runs as another user in compose: world-readable is fine.
    args.out.chmod(0o644)
    print(f"wrote ACL for {len(USERS)} services and admin to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
