"""Settings every service shares; each service extends them in its app.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.http_limits import HeadLimits


class RedisSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSFEED_", extra="ignore")

    # Required on purpose: a default would quietly write into whatever Redis
    # happens to listen on 6379.
    redis_url: str = Field(description="Redis holding the streams and read model (required)")


class ServiceSettings(RedisSettings):
    """What every service process has: where it listens and how it logs.
    (Each service sets its own default port.)"""

    host: str = Field(default="127.0.0.1", description="address to listen on")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Literal["json", "console"] = Field(
        default="json", description="json: one object per line; console: for people (make run)"
    )
    max_header_bytes: int = Field(
        default=32_768,
        ge=1024,
        le=1_048_576,
        description="a request's line and headers together; more is answered 431",
    )
    max_headers: int = Field(
        default=100, ge=10, le=1000, description="header lines of one request; more is 431"
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="time to send a request's head from its first byte (or from connecting); "
        "past it 408 and the connection is closed",
    )

    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve /metrics on this port, and not on the service's own; unset: on "
        "the service's port",
    )
    metrics_host: str | None = Field(
        default=None, description="address of the metrics port (unset: the same as host)"
    )

    def metrics_address(self) -> tuple[str, int] | None:
        if self.metrics_port is None:
            return None
        return (self.metrics_host or self.host, self.metrics_port)

    def head_limits(self) -> HeadLimits:
        return HeadLimits(self.max_header_bytes, self.max_headers, self.header_timeout_seconds)


# NEWSFEED_PARTITIONS when unset: docs/scaling.md ("How to size N") says why.
DEFAULT_PARTITIONS = 1


class PartitionSettings(BaseSettings):
    """How many partitions each stage's stream has (shared.partitions): the same
    value for every service of one deployment."""

    model_config = SettingsConfigDict(env_prefix="NEWSFEED_", extra="ignore")

    partitions: int = Field(
        default=DEFAULT_PARTITIONS,
        ge=1,
        le=256,
        description="partitions of each stage's stream, chosen by a stable hash of the item's "
        "uri; fixed for the life of the data. 1 suits one Redis; a cluster wants at least its "
        "primaries, better a multiple (docs/scaling.md)",
    )


class AckSettings(BaseSettings):
    """How durable a write must be before it is acknowledged (docs/reliability.md)."""

    model_config = SettingsConfigDict(env_prefix="NEWSFEED_", extra="ignore")

    ack_replicas: int = Field(
        default=0,
        ge=0,
        le=16,
        description="replicas that must have taken a write (WAIT) before ingest answers 202 "
        "and before a worker acknowledges upstream; 0: the primary alone",
    )
    ack_timeout_ms: int = Field(
        default=1000,
        ge=1,
        le=60_000,
        description="how long a write waits for those replicas; short of them, ingest answers "
        "503 and a worker leaves its input pending",
    )


class StreamSettings(PartitionSettings, AckSettings):
    """What every producer and consumer of the pipeline's streams shares."""

    stream_max_len: int = Field(
        default=100_000,
        ge=100,
        description="streams a service writes are trimmed to about this length, never past "
        "an entry some group has not acknowledged",
    )


class DeliverySettings(StreamSettings):
    """How a service consumes its input stream (see shared.delivery)."""

    batch_size: int = Field(default=200, ge=1, le=1000, description="COUNT of each XREADGROUP")
    block_ms: int = Field(default=1000, ge=1, le=60_000, description="XREADGROUP BLOCK")
    claim_idle_ms: int = Field(
        default=15_000,
        ge=100,
        description="an entry pending this long on any consumer is taken over; keep it above "
        "the slowest batch (docs/delivery.md: 6.7 s measured for 200 items on a busy machine)",
    )
    retry_delay_ms: int = Field(
        default=1000, ge=0, description="wait before this consumer retries an entry it failed"
    )
    max_deliveries: int = Field(
        default=5, ge=1, le=100, description="deliveries before an entry is dead-lettered"
    )
    fault_poison_pattern: str | None = Field(
        default=None,
        description="fault injection for tests: entries whose subject matches this regex "
        "always fail (leave unset in production)",
    )
