"""Redis ACL users, one per service, limited to the commands and keys it needs.

The rules live here once; `python -m shared.acl --out FILE` renders a Redis
ACL file from them, with passwords from NEWSFEED_REDIS_PASSWORD_<SERVICE>
(and NEWSFEED_REDIS_PASSWORD_ADMIN for operators and the `newsfeed` CLI).
docker-compose.yml runs this in a one-shot container before Redis starts.

What each service may touch (every service may also read every stream, for
/metrics and readiness):

| user | writes | reads |
| --- | --- | --- |
| ingest | news.* streams, ingest:{news.ingested}:* | - |
| enrichment | news.* streams, enrichment:{news.ingested}:*, delivery:* | - |
| publication | news.* streams, rm:{news.published}:*, delivery:* | - |
| gateway | nothing | rm:{news.published}:* |
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

STREAMS = "news.*"

# Connection housekeeping, reads, streams, scripts and the data types we use;
# then everything marked dangerous (FLUSHALL, KEYS, CONFIG, DEBUG, ...) removed.
WRITER_COMMANDS = (
    "-@all",
    "+@connection",
    "+@read",
    "+@write",
    "+@stream",
    "+@scripting",
    "+@hash",
    "+@string",
    "+@list",
    "+@sortedset",
    "+@set",
    "+@keyspace",
    "+@transaction",
    "-@dangerous",
    "+ping",
    "+info",
)
READER_COMMANDS = ("-@all", "+@connection", "+@read", "+@stream", "-@dangerous", "+ping", "+info")


@dataclass(frozen=True)
class ServiceUser:
    name: str
    writes: tuple[str, ...]
    reads: tuple[str, ...]
    commands: tuple[str, ...]


USERS = (
    ServiceUser("ingest", (STREAMS, "ingest:{news.ingested}:*"), (), WRITER_COMMANDS),
    ServiceUser(
        "enrichment",
        (STREAMS, "enrichment:{news.ingested}:*", "delivery:*"),
        (),
        WRITER_COMMANDS,
    ),
    ServiceUser(
        "publication",
        (STREAMS, "rm:{news.published}:*", "delivery:*"),
        (),
        WRITER_COMMANDS,
    ),
    ServiceUser("gateway", (), (STREAMS, "rm:{news.published}:*"), READER_COMMANDS),
)


def password_rule(password: str) -> str:
    """The password as a SHA-256 rule, so the ACL file holds no plaintext."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def acl_line(user: ServiceUser, password: str) -> str:
    keys = [f"~{pattern}" for pattern in user.writes]
    # Read-only key patterns (%R~) for what a user may read but not change.
    keys += [f"%R~{pattern}" for pattern in (*user.reads, STREAMS) if pattern not in user.writes]
    return " ".join(
        [
            "user",
            user.name,
            "on",
            password_rule(password),
            "resetkeys",
            *keys,
            "resetchannels",
            *user.commands,
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
