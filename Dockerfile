# One image for all four newsfeed services; pick one with the command,
# e.g. `python -m ingest` (docker-compose.yml sets it per service).

# --- builder: resolve the locked environment into /app/.venv -----------------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

# uv from PyPI (not the ghcr.io image), so the build needs nothing but PyPI.
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app

# Project metadata first: the dependency layer is rebuilt only when these change.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY services/ingest/pyproject.toml services/ingest/
COPY services/enrichment/pyproject.toml services/enrichment/
COPY services/publication/pyproject.toml services/publication/
COPY services/gateway/pyproject.toml services/gateway/
COPY cli/pyproject.toml cli/
RUN uv sync --locked --no-dev --all-packages --no-install-workspace

# Then the sources, and the workspace packages themselves.
COPY shared/src/ shared/src/
COPY services/ingest/src/ services/ingest/src/
COPY services/enrichment/src/ services/enrichment/src/
COPY services/publication/src/ services/publication/src/
COPY services/gateway/src/ services/gateway/src/
COPY cli/src/ cli/src/
RUN uv sync --locked --no-dev --all-packages

# --- runtime: the venv and the sources, run as an unprivileged user ----------
FROM python:3.11-slim AS runtime

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NEWSFEED_HOST=0.0.0.0

RUN groupadd --system --gid 10001 newsfeed \
    && useradd --system --uid 10001 --gid newsfeed --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin newsfeed

WORKDIR /app
# Same paths as in the builder: the venv's editable installs point at /app/*/src.
# Owned by root and read-only for the service user.
COPY --from=builder /app /app

USER 10001:10001

# gateway, ingest, enrichment, publication (NEWSFEED_PORT picks one per service).
EXPOSE 8000 8001 8002 8003

# A default only; compose overrides it with each service's command.
CMD ["python", "-m", "gateway"]
