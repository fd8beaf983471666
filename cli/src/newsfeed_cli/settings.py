"""The CLI's settings: the same NEWSFEED_* variables the services read."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSFEED_", extra="ignore")

    redis_url: str | None = Field(
        default=None, description="the Redis the services use (status, dlq, tail)"
    )
    ingest_url: str = Field(default="http://127.0.0.1:8001", description="the ingest API")
    ingest_token: SecretStr | None = Field(default=None, description="ingest bearer token")
