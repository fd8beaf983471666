"""`newsfeed import`: reading JSON Lines and ninjs files, mapping ninjs, summarizing outcomes.

Submissions go to a stand-in ingest (httpx.MockTransport) here; the e2e test
imports into the real service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from newsfeed_cli.importer import run_import, to_submission
from newsfeed_cli.main import app
from typer.testing import CliRunner


class FakeIngest:
    """Accepts items with a headline or body; a repeated identical item is unchanged."""

    def __init__(self, status: int | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.status is not None:
            return httpx.Response(self.status, json={"error": "nope"})
        payload = json.loads(request.content)
        seen = payload in self.received
        self.received.append(payload)
        if not (payload.get("headline") or payload.get("body_html")):
            problem = {"field": "(body)", "problem": "an item needs a headline or a body_html"}
            return httpx.Response(422, json={"error": "not a valid item", "detail": [problem]})
        uri = payload.get("uri", "urn:x")
        return httpx.Response(202, json={"uri": uri, "version": 1, "changed": not seen})


def client(fake: FakeIngest) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(fake), base_url="http://ingest")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_json_lines_are_submitted_in_order_and_summarized(tmp_path: Path) -> None:
    lines = [
        {"uri": "urn:a", "headline": "First"},
        {"uri": "urn:b", "headline": "Second"},
        {"uri": "urn:a", "headline": "First"},
        {"uri": "urn:c", "headline": ""},
    ]
    path = write(tmp_path, "items.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    fake = FakeIngest()
    summary = run_import(path, client(fake))
    assert [p["uri"] for p in fake.received] == ["urn:a", "urn:b", "urn:a", "urn:c"]
    assert (summary.total, summary.accepted, summary.unchanged) == (4, 2, 1)
    assert summary.rejected == [
        ("line 4", "urn:c", "not a valid item ((body): an item needs a headline or a body_html)")
    ]
    assert summary.exit_code == 1


def test_a_bad_line_is_rejected_alone(tmp_path: Path) -> None:
    text = '{"headline": "ok"}\n{not json\n[1, 2]\n{"headline": "also ok"}\n'
    summary = run_import(write(tmp_path, "items.jsonl", text), client(FakeIngest()))
    assert summary.accepted == 2
    assert [(w, r.split(":")[0]) for w, _, r in summary.rejected] == [
        ("line 2", "not valid JSON"),
        ("line 3", "an item must be a JSON object, not list"),
    ]


def test_a_ninjs_array_and_a_single_ninjs_object_are_read(tmp_path: Path) -> None:
    items = [{"uri": "urn:1", "headline": "One"}, {"uri": "urn:2", "headline": "Two"}]
    array = run_import(write(tmp_path, "a.json", json.dumps(items, indent=2)), client(FakeIngest()))
    assert (array.total, array.accepted) == (2, 2)
    single = run_import(
        write(tmp_path, "o.json", json.dumps(items[0], indent=2)), client(FakeIngest())
    )
    assert (single.total, single.accepted, single.exit_code) == (1, 1, 0)


def test_ninjs_2_fields_are_mapped_and_server_owned_ones_left_out() -> None:
    ninjs = {
        "uri": "urn:ninjs:1",
        "version": "3",
        "versioncreated": "2026-01-07T10:00:00Z",
        "firstcreated": "2026-01-07T09:00:00Z",
        "type": "text",
        "language": "en",
        "headlines": [{"role": "sub", "value": "Sub"}, {"role": "main", "value": "Main"}],
        "bodies": [
            {"contenttype": "text/plain", "value": "Plain."},
            {"contenttype": "text/html", "value": "<p>Html.</p>"},
        ],
        "descriptions": [{"value": "<b>Short</b> summary"}],
        "by": "Olena Kovalenko",
        "subjects": [
            {
                "name": "Politics",
                "uri": "http://cv.iptc.org/newscodes/subjectcode/11000000",
                "code": "x",
            }
        ],
        "renditions": {
            "thumb": {
                "href": "https://cdn.example.org/t.jpg",
                "width": 100,
                "sizeinbytes": 3,
                "priority": 1,
            }
        },
        "urgency": 3,
    }
    payload, ignored = to_submission(ninjs)
    assert payload == {
        "uri": "urn:ninjs:1",
        "firstcreated": "2026-01-07T09:00:00Z",
        "type": "text",
        "language": "en",
        "headline": "Main",
        "body_html": "<p>Html.</p>",
        "description_text": "Short summary",
        "authors": [{"name": "Olena Kovalenko"}],
        "subjects": [
            {"name": "Politics", "uri": "http://cv.iptc.org/newscodes/subjectcode/11000000"}
        ],
        # Every field of ingest's Rendition is passed on (sizeinbytes too,
        # which a list kept by hand once left out); others are not.
        "renditions": {
            "thumb": {"href": "https://cdn.example.org/t.jpg", "width": 100, "sizeinbytes": 3}
        },
    }
    assert sorted(ignored) == ["urgency", "version", "versioncreated"]


def test_ninjs_1_body_text_byline_and_subject_are_mapped() -> None:
    payload, ignored = to_submission(
        {
            "headline": "H",
            "body_text": "One.\n\nTwo & three.",
            "byline": "Desk",
            "subject": [{"name": "War"}],
        }
    )
    assert payload["body_html"] == "<p>One.</p><p>Two &amp; three.</p>"
    assert payload["authors"] == [{"name": "Desk"}]
    assert payload["subjects"] == [{"name": "War"}]
    assert ignored == []


def test_left_out_fields_are_counted_in_the_summary(tmp_path: Path) -> None:
    text = '{"headline": "a", "headlien": "typo"}\n{"headline": "b", "headlien": "again"}\n'
    summary = run_import(write(tmp_path, "typo.jsonl", text), client(FakeIngest()))
    assert summary.ignored == {"headlien": 2}
    assert summary.as_dict()["ignored_fields"] == {"headlien": 2}


def test_a_refused_token_stops_the_import_as_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, "i.jsonl", '{"headline": "a"}\n{"headline": "b"}\n')
    summary = run_import(path, client(FakeIngest(status=401)))
    assert summary.stopped is not None
    assert "refused the token" in summary.stopped
    assert summary.exit_code == 2


def test_an_unreachable_ingest_stops_the_import_with_exit_3(tmp_path: Path) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    path = write(tmp_path, "i.jsonl", '{"headline": "a"}\n')
    with httpx.Client(transport=httpx.MockTransport(down), base_url="http://ingest") as broken:
        summary = run_import(path, broken)
    assert summary.stopped is not None
    assert "cannot reach ingest" in summary.stopped
    assert summary.exit_code == 3


# -- the command's usage errors ------------------------------------------------------------


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("NEWSFEED_INGEST_TOKEN", "t" * 20)
    monkeypatch.setenv("NEWSFEED_INGEST_URL", "http://127.0.0.1:9")
    return CliRunner()


def test_a_missing_file_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_a_missing_token_is_a_usage_error(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSFEED_INGEST_TOKEN")
    path = write(tmp_path, "i.jsonl", '{"headline": "a"}\n')
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 2
    assert "NEWSFEED_INGEST_TOKEN" in result.output


def test_a_broken_json_array_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(write(tmp_path, "a.json", '[{"headline": "a"},'))])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output
