"""The enrichment service loads its data (gazetteers, the English model, the
language detector) while it starts, so the first items do not wait for it:
a lazy load on the first item took about a second (`make bench`'s latency
step showed it as a p99 of 707 ms). The HTTP server, and so the readiness
answer, starts only once `app.build` has returned. The first pass leaves the
English model to the second (NEWSFEED_ENRICH_ENTITY_MODEL=second_pass, the
default) and does not load it; the second pass loads it, and detects no language."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys
from enrichment import app, ner
from enrichment.enrichers import language
from enrichment.gazetteer import load
from shared.service import Lifecycle

def loaded():
    return {
        "model": ner.model.cache_info().currsize,
        "gazetteer": load.cache_info().currsize,
        "detector": language.detector.cache_info().currsize,
    }

before = loaded()
# Never connected to: building the service connects to nothing.
app.build(app.Settings(redis_url="redis://127.0.0.1:1/0", **json.loads(sys.argv[1])), Lifecycle())
print(json.dumps({"before": before, "after": loaded()}))
"""


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, {"model": 0, "gazetteer": 1, "detector": 1}),
        (
            {"enrich": {"entity_model": "inline"}},
            {"model": 1, "gazetteer": 1, "detector": 1},
        ),
        ({"second_pass": True}, {"model": 1, "gazetteer": 1, "detector": 0}),
    ],
    ids=["first pass", "inline", "second pass"],
)
def test_the_service_has_loaded_its_data_before_it_can_be_ready(
    settings: dict[str, object], expected: dict[str, int]
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(settings)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["before"] == {"model": 0, "gazetteer": 0, "detector": 0}
    assert {name: min(count, 1) for name, count in loaded["after"].items()} == expected
