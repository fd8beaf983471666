"""`newsfeed import FILE`: submit every item of a JSON Lines or ninjs file to ingest.

The file is JSON Lines (one item per line), a JSON array of items, or one
JSON object. Each item is either in the ingest API's own shape or ninjs
(1.x or 2.x): `headlines`, `bodies`, `descriptions`, `by`/`byline`,
`body_text`, `subject` are mapped; server-owned fields (`version`,
`versioncreated`) and fields ingest does not take are left out and counted
in the summary, never silently. Items go one by one, in file order (so an
update follows its item), to POST /v1/items with NEWSFEED_INGEST_TOKEN.

Exit codes: 0 every item accepted (or unchanged), 1 some were rejected,
2 usage (no file, unreadable file, no token, token refused), 3 ingest
unreachable.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from shared.items import Author, Entity, Rendition
from shared.submission import Submission
from shared.text import html_to_text

from newsfeed_cli import exit_codes

out = Console()
err = Console(stderr=True)

# What ingest takes, by the models' own field names: a field added to a model
# is passed on, never silently left out.
SUBMISSION_FIELDS = frozenset(Submission.model_fields)
ENTITY_FIELDS = frozenset(Entity.model_fields)
RENDITION_FIELDS = frozenset(Rendition.model_fields)
AUTHOR_FIELDS = frozenset(Author.model_fields)
MAX_SHOWN = 50
ATTEMPTS = 3


class ImportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSFEED_", extra="ignore")

    ingest_url: str = Field(default="http://127.0.0.1:8001", description="the ingest API")
    ingest_token: SecretStr | None = Field(default=None, description="ingest bearer token")


class UsageError(Exception):
    pass


class Unreachable(Exception):
    pass


# -- reading the file ------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    where: str  # "line 3" or "item 3"
    payload: dict[str, Any] | None
    problem: str | None = None
    ignored: tuple[str, ...] = ()


def _records(path: Path) -> tuple[int, Iterator[Record]]:
    """(how many items, the items): a JSON array or object, else JSON Lines."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}") from error
    start = text.lstrip()[:1]
    if start in ("[", "{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            if start == "[" or "Extra data" not in str(error):
                raise UsageError(f"{path} is not valid JSON: {error}") from error
        else:
            items = document if isinstance(document, list) else [document]
            return len(items), (_record(f"item {n}", item) for n, item in enumerate(items, 1))
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    return len(lines), (_line(n, line) for n, line in lines)


def _line(number: int, line: str) -> Record:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        return Record(f"line {number}", None, f"not valid JSON: {error.msg}")
    return _record(f"line {number}", item)


def _record(where: str, item: Any) -> Record:
    if not isinstance(item, dict):
        return Record(where, None, f"an item must be a JSON object, not {type(item).__name__}")
    payload, ignored = to_submission(item)
    return Record(where, payload, ignored=tuple(ignored))


# -- ninjs to the ingest API's shape -------------------------------------------------------


def _paragraphs(text: str) -> str:
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in parts)


def _pick(values: Any, *, html_first: bool = False) -> tuple[str, str] | None:
    """(value, contenttype) of the main one of a ninjs 2 list (headlines, bodies...)."""
    if not isinstance(values, list):
        return None
    usable = [v for v in values if isinstance(v, dict) and isinstance(v.get("value"), str)]
    if not usable:
        return None
    usable.sort(key=lambda v: (v.get("role") not in (None, "main"), 0))
    if html_first:
        usable.sort(key=lambda v: "html" not in str(v.get("contenttype", "text/plain")))
    chosen = usable[0]
    return chosen["value"], str(chosen.get("contenttype") or "text/plain")


def _only(value: Any, allowed: frozenset[str]) -> Any:
    return {k: v for k, v in value.items() if k in allowed} if isinstance(value, dict) else value


def to_submission(item: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The ingest API's fields of a native or ninjs item, and the names left out."""
    payload = {k: v for k, v in item.items() if k in SUBMISSION_FIELDS}
    ignored = [k for k in item if k not in SUBMISSION_FIELDS]
    used: set[str] = set()
    if "headline" not in payload and (main := _pick(item.get("headlines"))):
        payload["headline"] = main[0]
        used.add("headlines")
    if "body_html" not in payload:
        if body := _pick(item.get("bodies"), html_first=True):
            value, kind = body
            payload["body_html"] = value if "html" in kind else _paragraphs(value)
            used.add("bodies")
        elif isinstance(item.get("body_text"), str):
            payload["body_html"] = _paragraphs(item["body_text"])
            used.add("body_text")
    if "description_text" not in payload and (description := _pick(item.get("descriptions"))):
        payload["description_text"] = html_to_text(description[0])
        used.add("descriptions")
    byline = item.get("by") or item.get("byline")
    if "authors" not in payload and isinstance(byline, str) and byline.strip():
        payload["authors"] = [{"name": byline.strip()}]
        used.add("by" if item.get("by") else "byline")
    if isinstance(payload.get("authors"), list):
        payload["authors"] = [_only(a, AUTHOR_FIELDS) for a in payload["authors"]]
    subjects = payload.get("subjects", item.get("subject"))
    if isinstance(subjects, list):
        payload["subjects"] = [_only(s, ENTITY_FIELDS) for s in subjects]
        if "subjects" not in item:
            used.add("subject")
    renditions = payload.get("renditions")
    if isinstance(renditions, list):  # some ninjs producers send a list
        renditions = {
            str(r.get("name") or f"rendition{n}"): r
            for n, r in enumerate(renditions, 1)
            if isinstance(r, dict)
        }
    if isinstance(renditions, dict):
        payload["renditions"] = {k: _only(v, RENDITION_FIELDS) for k, v in renditions.items()}
    return payload, [k for k in ignored if k not in used]


# -- submitting ----------------------------------------------------------------------------


@dataclass
class Summary:
    total: int = 0
    accepted: int = 0
    unchanged: int = 0
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # where, what, why
    ignored: Counter[str] = field(default_factory=Counter)
    stopped: str | None = None  # why the import stopped before the end
    stop_code: int = exit_codes.OK

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return self.stop_code
        return exit_codes.PROBLEMS if self.rejected else exit_codes.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "accepted": self.accepted,
            "unchanged": self.unchanged,
            "rejected": [{"where": w, "item": i, "reason": r} for w, i, r in self.rejected],
            "ignored_fields": dict(self.ignored),
            "stopped": self.stopped,
        }


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    reason = str(body.get("error", f"HTTP {response.status_code}"))
    detail = body.get("detail")
    if isinstance(detail, list):
        problems = [f"{p.get('field')}: {p.get('problem')}" for p in detail if isinstance(p, dict)]
        reason = f"{reason} ({'; '.join(problems[:5])})"
    return reason


def _label(payload: dict[str, Any] | None) -> str:
    if not payload:
        return "-"
    name = payload.get("uri") or payload.get("headline") or payload.get("link") or "-"
    text = str(name)
    return text if len(text) <= 60 else text[:59] + "…"


def submit(client: httpx.Client, payload: dict[str, Any]) -> httpx.Response:
    """POST one item; transport errors and 409/5xx are retried, then Unreachable."""
    for attempt in range(ATTEMPTS):
        try:
            response = client.post("/v1/items", json=payload)
        except httpx.TransportError as error:
            if attempt == ATTEMPTS - 1:
                raise Unreachable(f"cannot reach ingest at {client.base_url}: {error}") from error
        else:
            if response.status_code not in (409, 502, 503, 504) or attempt == ATTEMPTS - 1:
                return response
        time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def run_import(path: Path, client: httpx.Client, progress: Progress | None = None) -> Summary:
    total, records = _records(path)
    summary = Summary(total=total)
    task = progress.add_task("importing", total=total) if progress else None
    for record in records:
        summary.ignored.update(record.ignored)
        if record.payload is None:
            summary.rejected.append((record.where, "-", record.problem or "unreadable"))
        else:
            try:
                response = submit(client, record.payload)
            except Unreachable as error:
                summary.stopped, summary.stop_code = str(error), exit_codes.UNREACHABLE
                break
            if response.status_code == 401:
                summary.stopped = f"ingest refused the token: {_reason(response)}"
                summary.stop_code = exit_codes.USAGE
                break
            if response.status_code == 202:
                if response.json().get("changed", True):
                    summary.accepted += 1
                else:
                    summary.unchanged += 1
            else:
                summary.rejected.append((record.where, _label(record.payload), _reason(response)))
        if progress is not None and task is not None:
            progress.advance(task)
    return summary


def _print(summary: Summary) -> None:
    table = Table(title="import summary", show_header=False)
    table.add_row("items", str(summary.total))
    table.add_row("[green]accepted[/]", str(summary.accepted))
    table.add_row("unchanged", str(summary.unchanged))
    table.add_row(
        "[red]rejected[/]" if summary.rejected else "rejected", str(len(summary.rejected))
    )
    out.print(table)
    if summary.ignored:
        listed = ", ".join(f"{name} ({count})" for name, count in summary.ignored.most_common(20))
        out.print(f"fields left out (not taken by ingest): {listed}")
    if summary.rejected:
        rejected = Table(title="rejected items")
        for column in ("where", "item", "reason"):
            rejected.add_column(column, overflow="fold")
        for where, label, reason in summary.rejected[:MAX_SHOWN]:
            rejected.add_row(where, label, reason)
        out.print(rejected)
        if len(summary.rejected) > MAX_SHOWN:
            out.print(f"... and {len(summary.rejected) - MAX_SHOWN} more (see --json)")


def import_items(
    file: Annotated[Path, typer.Argument(help="JSON Lines, a JSON array, or one ninjs object")],
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    timeout: float = typer.Option(30.0, help="seconds to wait for each submission"),
) -> None:
    """Submit every item of FILE to ingest, with a progress bar and a summary.

    Exit 0 if every item was accepted (or unchanged), 1 if any was rejected,
    2 on usage errors, 3 if ingest cannot be reached."""
    try:
        settings = ImportSettings()
    except ValidationError as error:
        _fail(f"settings: {error.errors()[0]['msg']}", exit_codes.USAGE)
    if settings.ingest_token is None:
        _fail("NEWSFEED_INGEST_TOKEN is not set", exit_codes.USAGE)
    if not file.is_file():
        _fail(f"no such file: {file}", exit_codes.USAGE)
    headers = {"Authorization": f"Bearer {settings.ingest_token.get_secret_value()}"}
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=as_json,
    )
    try:
        with (
            httpx.Client(base_url=settings.ingest_url, headers=headers, timeout=timeout) as client,
            progress,
        ):
            summary = run_import(file, client, progress)
    except UsageError as error:
        _fail(str(error), exit_codes.USAGE)
    if as_json:
        out.print_json(json.dumps(summary.as_dict()))
    else:
        _print(summary)
    if summary.stopped:
        done = summary.accepted + summary.unchanged + len(summary.rejected)
        err.print(f"[bold red]stopped after {done} of {summary.total} items:[/] {summary.stopped}")
    raise typer.Exit(summary.exit_code)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)
