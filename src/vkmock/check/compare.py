"""``vkmock compare A B``: the same requests against two deployments, every difference in behaviour named.

Each side is a base URL or ``mock[:OPTIONS]`` (a local ``vkmock serve --port 0 OPTIONS`` started for the run).
One sequence of requests (:mod:`vkmock.check.sequence`) is sent to both, step by step and in the same order, A
first; the two answers are compared (:mod:`vkmock.check.jsondiff`): status, error message, body shape (fields
present or missing, types, field order) and values, after pairing what each side generated on its own.

Safety: without ``--allow-writes`` only the GET steps that need nothing created run. With it, everything the run
creates is named ``vkmock-compare-<run>-...`` and deleted at the end (also after a failure, Ctrl-C or SIGTERM);
leftovers of an earlier run that was killed are deleted before the next one starts.

Exit statuses: 0 the sides agree (or differ only where ``--allow`` accepts it), 1 they differ (or something
created could not be deleted), 2 usage or connection error, 130/143 interrupted.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import secrets
import shlex
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from vkmock.check import sequence as seqmod
from vkmock.check.http import Answer, ConnectionProblem, Credentials, Target, UsageError, normalize_base_url
from vkmock.check.jsondiff import KINDS, Comparer, Difference, IdMap, Rules, fold, is_generated, matches, show
from vkmock.check.sequence import CREATED_KEYS, PREFIX, Context, Missing, Sequence, Step
from vkmock.launch import Launched, LaunchError, launch, serve_command

EXIT_OK, EXIT_DIFFER, EXIT_USAGE = 0, 1, 2
GOVERNANCE = "/api/governance"
#: What the cleanup lists and deletes, in this order (keys first: they point at teams and customers).
COLLECTIONS = (
    ("virtual-keys", "virtual_keys"),
    ("teams", "teams"),
    ("customers", "customers"),
)
SUMMARY_LINES = 6  # differences shown per kind on the screen
CLEANUP_DEADLINE = 60.0


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# ---- sides ----------------------------------------------------------------------------------------------


@dataclass
class Side:
    label: str
    given: str  # what the user wrote
    credentials: Credentials
    timeout: float
    url: str = ""
    launched: Launched | None = None
    profile: str | None = None
    version: str = ""
    target: Target | None = None
    ctx: Context | None = None
    #: what this run created and has not deleted: (collection, id)
    created: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_mock(self) -> bool:
        return self.given == "mock" or self.given.startswith("mock:")

    @property
    def mock_options(self) -> list[str]:
        return shlex.split(self.given[5:]) if self.given.startswith("mock:") else []

    def describe(self) -> str:
        where = f"{self.given} ({self.url})" if self.is_mock else self.url
        return where + (f" [Bifrost {self.version or self.profile}]" if self.profile else "")


def parse_side(label: str, given: str, token: str | None, basic: str | None, timeout: float) -> Side:
    given = given.strip()
    low = label.lower()
    try:
        credentials = Credentials.parse(token, basic)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--token", f"--{low}-token").replace("--basic", f"--{low}-basic")) from None
    side = Side(label, given, credentials, timeout)
    if side.is_mock:
        try:
            options = side.mock_options
        except ValueError as exc:
            raise UsageError(f"side {label}: cannot read the mock options {given[5:]!r}: {exc}") from None
        if not credentials.header:
            side.credentials = _mock_credentials(options)
        side.profile = _option(options, "--bifrost") or "1.4"
    else:
        try:
            side.url = normalize_base_url(given)
        except UsageError:
            raise UsageError(f"side {label} must be an http(s):// base URL or mock[:OPTIONS], got {given!r}") from None
    return side


def _option(options: list[str], name: str) -> str | None:
    value = None
    for index, option in enumerate(options):
        if option == name and index + 1 < len(options):
            value = options[index + 1]
        elif option.startswith(name + "="):
            value = option.split("=", 1)[1]
    return value


def _mock_credentials(options: list[str]) -> Credentials:
    """What a mock started with these options lets in: its own ``--token``/``--basic``, else any token."""
    if "--no-auth" in options:
        return Credentials()
    token, basic = _option(options, "--token"), _option(options, "--basic")
    if token:
        return Credentials(token=token)
    if basic:
        return Credentials(basic=basic)
    return Credentials(token=secrets.token_hex(12))  # any token passes a mock started without --token


def start(side: Side, work: Path) -> None:
    """Start a ``mock:`` side; find out which Bifrost a URL side is."""
    if side.is_mock:
        try:
            log = work / f"side-{side.label.lower()}.log"
            side.launched = launch(serve_command(*side.mock_options), log, timeout=60)
        except LaunchError as exc:
            tail = str(exc).splitlines()[-3:]
            raise UsageError(f"side {side.label}: {side.given!r} did not start: {' | '.join(tail)}") from None
        side.url = side.launched.url
    side.target = Target(side.url, side.credentials.header, side.timeout)
    answer = side.target.send("GET", "/api/version")
    if answer.status in (401, 403):
        raise UsageError(
            f"side {side.label} ({side.url}) refused the credentials ({side.credentials.kind}): GET /api/version "
            f"answered {answer.status}; pass --{side.label.lower()}-token or --{side.label.lower()}-basic"
        )
    version = _json(answer) if answer.status == 200 else None
    if isinstance(version, str):
        side.version = version
        if not side.is_mock:
            side.profile = "1.5" if version.lstrip("v").startswith("1.5") else "1.4"
    listing = side.target.send("GET", f"{GOVERNANCE}/virtual-keys")
    if listing.status in (401, 403):
        raise UsageError(
            f"side {side.label} ({side.url}) needs credentials: GET {GOVERNANCE}/virtual-keys answered "
            f"{listing.status}; pass --{side.label.lower()}-token or --{side.label.lower()}-basic"
        )
    if listing.status != 200:
        raise UsageError(f"side {side.label} ({side.url}) is not a Bifrost: GET {GOVERNANCE}/virtual-keys "
                         f"answered {listing.status}: {listing.snippet()}")
    if side.profile is None:
        doc = _json(listing)
        side.profile = "1.5" if isinstance(doc, dict) and "total_count" in doc else "1.4"


def _json(answer: Answer) -> Any:
    try:
        return answer.json()
    except (ValueError, UnicodeDecodeError):
        return None


# ---- cleanup ----------------------------------------------------------------------------------------------


@dataclass
class Cleanup:
    found: int = 0
    deleted: int = 0
    left: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return not self.left and self.problem is None

    def as_json(self) -> dict[str, Any]:
        return {"found": self.found, "deleted": self.deleted, "left": self.left, "problem": self.problem}


def _ours(target: Target) -> list[tuple[str, str, str]]:
    """Everything named ``vkmock-compare-*`` on a deployment: (collection, id, name)."""
    found = []
    for collection, key in COLLECTIONS:
        answer = target.send("GET", f"{GOVERNANCE}/{collection}")
        doc = _json(answer) if answer.status == 200 else None
        items = doc.get(key) if isinstance(doc, dict) else None
        if isinstance(items, dict):
            items = list(items.values())
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and str(item.get("name", "")).startswith(PREFIX) and item.get("id"):
                found.append((collection, str(item["id"]), str(item["name"])))
    return found


def cleanup(side: Side) -> Cleanup:
    """Delete what this run created (by id: a key renamed away from the prefix is found too) and everything
    named ``vkmock-compare-*``, then list again to be sure."""
    result = Cleanup()
    target = side.target
    if target is None:
        return result
    stop = time.monotonic() + CLEANUP_DEADLINE
    try:
        wanted = list(dict.fromkeys([(c, i) for c, i in side.created] + [(c, i) for c, i, _ in _ours(target)]))
        order = [c for c, _ in COLLECTIONS]
        wanted.sort(key=lambda item: order.index(item[0]) if item[0] in order else len(order))
        result.found = len(wanted)
        for collection, ident in wanted:
            if time.monotonic() > stop:
                break
            answer = target.send("DELETE", f"{GOVERNANCE}/{collection}/{_quote(ident)}")
            result.deleted += answer.status == 200
        side.created.clear()
        result.left = [name for _, _, name in _ours(target)]
    except ConnectionProblem as exc:
        result.problem = str(exc)
    return result


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# ---- running one step -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One side's answer to a step (or why it could not be sent)."""

    request: str = ""
    status: int | None = None
    content_type: str = ""
    doc: Any = None
    text: str = ""
    is_json: bool = False
    skipped: str | None = None
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str | None:
        doc = self.doc
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
            message = doc["error"].get("message")
            return message if isinstance(message, str) else None
        return None

    def brief(self) -> str:
        if self.skipped:
            return f"not sent ({self.skipped})"
        message = self.message
        if message is not None:
            return f"{self.status} {show(message, 100)}"
        return f"{self.status}"

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"request": self.request, "status": self.status}
        if self.skipped:
            doc["skipped"] = self.skipped
        if self.message is not None:
            doc["message"] = self.message
        doc["body"] = self.doc if self.is_json else self.text[:2000]
        return doc


@dataclass
class Result:
    step: Step
    a: Outcome
    b: Outcome
    differences: list[Difference] = field(default_factory=list)
    accepted: list[tuple[Difference, str]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.a.skipped and self.b.skipped:
            return "skipped"
        if self.differences:
            return "differ"
        return "accepted" if self.accepted else "agree"


def send(side: Side, step: Step) -> Outcome:
    assert side.target is not None and side.ctx is not None
    ctx = side.ctx
    out = Outcome()
    try:
        path = ctx.render_path(step.path)
        data = None
        if step.raw is not None:
            data = ctx.render(step.raw, out.numbers).encode("utf-8")
        elif step.has_body:
            data = json.dumps(ctx.render(step.body, out.numbers), ensure_ascii=False).encode("utf-8")
        headers = {k: str(ctx.render(v)) for k, v in step.headers.items()}
        ctx.render(step.path, out.numbers)
    except Missing as exc:
        out.skipped = str(exc)
        return out
    out.request = f"{step.method} {path}" + (f" {data.decode('utf-8', 'replace')[:300]}" if data else "")
    answer = side.target.send(step.method, path, data=data, headers=headers, auth=step.auth)
    out.status = answer.status
    out.content_type = answer.content_type.split(";")[0].strip().lower()
    out.text = answer.body.decode("utf-8", errors="replace")
    try:
        out.doc = json.loads(out.text) if out.text.strip() else None
        out.is_json = out.text.strip() != ""
    except ValueError:
        out.doc, out.is_json = None, False
    _remember(side, step, out)
    return out


def _remember(side: Side, step: Step, out: Outcome) -> None:
    """Keep what a write created (to follow it and to delete it) and forget what it deleted."""
    assert side.ctx is not None
    if out.status != 200 or not isinstance(out.doc, dict):
        return
    collection = step.path.split("?")[0].rstrip("/").removeprefix(GOVERNANCE + "/").split("/")[0]
    if step.method == "POST":
        for key in CREATED_KEYS:
            obj = out.doc.get(key)
            if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                side.created.append((collection, obj["id"]))
                if step.alias:
                    side.ctx.created[step.alias] = obj
                for recorded, what in step.recorded.items():
                    if isinstance(obj.get(what), str):
                        side.ctx.recorded[recorded] = obj[what]
                break
    elif step.method == "PUT" and step.alias:
        for key in CREATED_KEYS:
            if isinstance(out.doc.get(key), dict):
                side.ctx.created[step.alias] = out.doc[key]
    elif step.method == "DELETE":
        ident = urllib.parse.unquote(out.request.split(" ")[1].split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        side.created[:] = [(c, i) for c, i in side.created if i != ident]


def compare_outcomes(step: Step, a: Outcome, b: Outcome, ids: IdMap, seq: Sequence, prefix: str) -> list[Difference]:
    found: list[Difference] = []
    if a.skipped or b.skipped:
        if not (a.skipped and b.skipped):
            found.append(Difference("skipped", "", a.brief(), b.brief()))
        return found
    message_a, message_b = a.message, b.message
    if a.status != b.status:
        found.append(Difference("status", "", a.brief(), b.brief()))
        return found
    if message_a is not None and message_b is not None:
        numbers = {str(v): str(b.numbers[k]) for k, v in a.numbers.items() if k in b.numbers}
        expected = ids.translate_text(message_a, numbers)
        if expected != message_b and not any(message_a in g and message_b in g for g in step.same):
            found.append(Difference("message", "error.message", show(message_a, 140), show(message_b, 140)))
    if a.content_type != b.content_type:
        found.append(Difference("content-type", "", a.content_type or "(none)", b.content_type or "(none)"))
    if a.is_json != b.is_json:
        found.append(Difference("not-json", "", "JSON" if a.is_json else show(a.text, 60),
                                "JSON" if b.is_json else show(b.text, 60)))
        return found
    if not a.is_json:
        if a.text != b.text:
            found.append(Difference("value", "(body)", show(a.text, 60), show(b.text, 60)))
        return found
    rules = Rules(
        nature=seq.nature + step.nature,
        ignore=(*seq.ignore, *step.ignore, "error.message"),
        unordered=seq.unordered + step.unordered,
        order=step.order,
        own=prefix if step.own else None,
    )
    found += fold(Comparer(ids, rules).compare(a.doc, b.doc))
    return found


# ---- allow file -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowance:
    step: str
    kind: str
    path: str
    reason: str

    def accepts(self, step: Step, diff: Difference) -> bool:
        return (
            fnmatch.fnmatchcase(step.name, self.step)
            and (self.kind in ("*", diff.kind))
            and matches(diff.path, self.path)
        )


def load_allow(path: str) -> list[Allowance]:
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--allow: no such file: {path}")
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"--allow: {path} is not YAML or JSON: {str(exc).splitlines()[0]}") from None
    if isinstance(doc, dict):
        doc = doc.get("accept", doc.get("allow"))
    if not isinstance(doc, list):
        raise UsageError(f"--allow: {path} must be a list of {{step, kind, path, reason}} entries")
    found = []
    for index, entry in enumerate(doc, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("step", "*"), str):
            raise UsageError(f"--allow: entry {index} must be a mapping with 'step' (a pattern)")
        kind = str(entry.get("kind", "*"))
        if kind != "*" and kind not in KINDS:
            raise UsageError(f"--allow: entry {index}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
        found.append(Allowance(str(entry.get("step", "*")), kind, str(entry.get("path", "*")),
                               str(entry.get("reason", ""))))
    return found


# ---- the run ---------------------------------------------------------------------------------------------


@dataclass
class CompareOptions:
    a: str = ""
    b: str = ""
    a_token: str | None = field(default=None, repr=False)
    a_basic: str | None = field(default=None, repr=False)
    b_token: str | None = field(default=None, repr=False)
    b_basic: str | None = field(default=None, repr=False)
    allow_writes: bool = False
    sequence: str | None = None
    builtin: bool = True
    requests: tuple[str, ...] = ()
    har: tuple[str, ...] = ()
    allow: str | None = None
    only: tuple[str, ...] = ()
    reports: tuple[str, ...] = ()
    as_json: bool = False
    request_timeout: float = 10.0
    run_id: str | None = None


@dataclass
class CompareRun:
    exit_code: int
    summary: str = ""
    results: list[Result] = field(default_factory=list)
    sides: list[Side] = field(default_factory=list)
    sequence: Sequence | None = None
    cleanups: dict[str, Cleanup] = field(default_factory=dict)
    leftovers: dict[str, Cleanup] = field(default_factory=dict)
    interrupted: str | None = None
    problem: str | None = None
    run_id: str = ""

    @property
    def differing(self) -> list[Result]:
        return [r for r in self.results if r.verdict == "differ"]

    def differences(self, kind: str | None = None) -> list[tuple[Result, Difference]]:
        return [(r, d) for r in self.results for d in r.differences if kind is None or d.kind == kind]


def _parse_reports(values: tuple[str, ...]) -> dict[str, Path]:
    reports: dict[str, Path] = {}
    for value in values:
        kind, sep, path = value.partition(":")
        kind = kind.strip().lower()
        if kind not in ("junit", "json") or not sep or not path:
            raise UsageError(f"--report takes junit:PATH or json:PATH, got {value!r}")
        reports[kind] = Path(path)
    return reports


def build_sequence(options: CompareOptions, profile: str) -> Sequence:
    if options.sequence and (options.sequence.endswith((".yaml", ".yml", ".json")) or "/" in options.sequence):
        seq = seqmod.load_file(options.sequence)
    elif options.builtin:
        seq = seqmod.builtin(options.sequence or profile)
    else:
        seq = Sequence(name="(none)", source="")
    for path in options.requests:
        seq.extend(seqmod.load_file(path))
    for path in options.har:
        seq.extend(seqmod.load_har(path))
    if options.only:
        seq.steps = [s for s in seq.steps if any(fnmatch.fnmatchcase(s.name, p) for p in options.only)]
    if not seq.steps:
        raise UsageError("no steps to run (the sequence is empty, or --only matched nothing)")
    return seq


def _runnable(step: Step, allow_writes: bool) -> bool:
    return allow_writes or (not step.writes and not step.references())


def _discover(side: Side, seq: Sequence) -> None:
    assert side.target is not None and side.ctx is not None
    for name, probes in seq.discover.items():
        for probe in probes:
            answer = side.target.send("GET", probe.path)
            doc = _json(answer) if answer.status == 200 else None
            found = seqmod.find(doc, probe.find) if probe.find else doc
            value = seqmod.take(found, probe.take)
            if value is not None:
                side.ctx.vars[name] = value
                break


@contextlib.contextmanager
def _signals(state: dict[str, int]) -> Iterator[None]:
    """SIGINT/SIGTERM raise :class:`Interrupted` (once); the cleanup then runs with both ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        if "signum" not in state:
            state["signum"] = signum
            raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _ignoring_signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_compare(options: CompareOptions, echo: Callable[[str], None] | None = None) -> CompareRun:
    """Run a comparison; never raises for usage or connection problems (they come back as exit status 2)."""
    run_id = options.run_id or secrets.token_hex(3)
    run = CompareRun(EXIT_USAGE, run_id=run_id)
    prefix = f"{PREFIX}{run_id}-"
    try:
        reports = _parse_reports(options.reports)
        allowances = load_allow(options.allow) if options.allow else []
        side_a = parse_side("A", options.a, options.a_token, options.a_basic, options.request_timeout)
        side_b = parse_side("B", options.b, options.b_token, options.b_basic, options.request_timeout)
    except UsageError as exc:
        run.summary = f"vkmock compare: {exc}"
        return run
    run.sides = [side_a, side_b]
    state: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="vkmock-compare-") as tmp, _signals(state):
        try:
            try:
                for side in run.sides:
                    start(side, Path(tmp))
                profiles = sorted({side.profile or "1.4" for side in run.sides})
                seq = build_sequence(options, profiles[0])
                run.sequence = seq
                if options.allow_writes:
                    for side in run.sides:
                        run.leftovers[side.label] = cleanup(side)
                ids = IdMap()
                for side in run.sides:
                    side.ctx = Context(prefix)
                    _discover(side, seq)
                for name in seq.discover:
                    a, b = side_a.ctx.vars.get(name), side_b.ctx.vars.get(name)  # type: ignore[union-attr]
                    if a is not None and b is not None and is_generated(a):
                        ids.pair(a, b)
                    elif a is not None and b is not None:
                        ids.equivalent.add((a, b))
                for step in seq.steps:
                    if not _runnable(step, options.allow_writes):
                        continue
                    a = send(side_a, step)
                    b = send(side_b, step)
                    result = Result(step, a, b)
                    for diff in compare_outcomes(step, a, b, ids, seq, prefix):
                        allowance = next((x for x in allowances if x.accepts(step, diff)), None)
                        if allowance is None:
                            result.differences.append(diff)
                        else:
                            result.accepted.append((diff, allowance.reason))
                    run.results.append(result)
                    if echo is not None:
                        echo(f"  {result.verdict:8} {step.name}")
                run.exit_code = EXIT_DIFFER if run.differing else EXIT_OK
            finally:
                with _ignoring_signals():
                    if options.allow_writes:
                        for side in run.sides:
                            if side.target is not None:
                                run.cleanups[side.label] = cleanup(side)
                    for side in run.sides:
                        if side.launched is not None:
                            side.launched.stop()
        except Interrupted as exc:
            run.interrupted = signal.Signals(exc.signum).name
            run.exit_code = 128 + exc.signum
        except (UsageError, ConnectionProblem) as exc:
            run.problem = str(exc)
            run.exit_code = EXIT_USAGE
    if run.exit_code == EXIT_OK and any(not c.ok for c in run.cleanups.values()):
        run.exit_code = EXIT_DIFFER
    secrets_of = [s.credentials for s in run.sides]
    run.summary = _redact(summary(run, options), secrets_of)
    for kind, path in reports.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = junit(run) if kind == "junit" else json.dumps(as_json(run), indent=2, ensure_ascii=False) + "\n"
        path.write_text(_redact(text, secrets_of), encoding="utf-8")
    return run


def _redact(text: str, credentials: list[Credentials]) -> str:
    for cred in credentials:
        text = cred.redact(text)
    return text


# ---- output ----------------------------------------------------------------------------------------------


def summary(run: CompareRun, options: CompareOptions) -> str:
    out = ["vkmock compare"]
    for side in run.sides:
        out.append(f"  {side.label}: {side.describe() if side.url else side.given}")
    seq = run.sequence
    mode = "writes allowed" if options.allow_writes else "read-only: GET steps only (--allow-writes for all)"
    if seq is not None:
        out.append(f"  sequence: {seq.name} ({seq.source}), {len(run.results)} of {len(seq.steps)} steps run "
                   f"[{mode}]; run {run.run_id}")
    for label, left in run.leftovers.items():
        if left.found:
            out.append(f"  {label}: deleted {left.deleted} leftover {PREFIX}* object(s) of an earlier run first")
    if run.results:
        verdicts = [r.verdict for r in run.results]
        out.append(f"  agreed: {verdicts.count('agree')}   differed: {verdicts.count('differ')}   "
                   f"accepted: {verdicts.count('accepted')}   skipped on both: {verdicts.count('skipped')}")
    grouped = run.differences()
    if grouped:
        out.append(f"DIFFERENCES: {len(grouped)} in {len(run.differing)} request(s), by kind")
        for kind, meaning in KINDS.items():
            items = [(r, d) for r, d in grouped if d.kind == kind]
            if not items:
                continue
            out.append(f"  {kind}: {meaning} ({len(items)} in {len({id(r) for r, _ in items})} request(s))")
            by_path: dict[tuple[str, str], list[tuple[Result, Difference]]] = {}
            for result, diff in items:
                key = (diff.path, diff.note) if diff.path else (result.step.name, "")
                by_path.setdefault(key, []).append((result, diff))
            for shown, group in enumerate(by_path.values()):
                if shown == SUMMARY_LINES:
                    out.append(f"    ... and {len(by_path) - SUMMARY_LINES} more (--json or --report for all)")
                    break
                result, diff = group[0]
                more = f" (and {len(group) - 1} more request(s))" if len(group) > 1 else ""
                out.append(f"    - {result.step.name}: {diff.line()}{more}")
    accepted = sum(len(r.accepted) for r in run.results)
    if accepted:
        out.append(f"  accepted by --allow: {accepted} difference(s)")
    if run.problem:
        out.append(f"ERROR: {run.problem}")
    if run.interrupted:
        out.append(f"INTERRUPTED by {run.interrupted}: the run was stopped")
    for label, done in run.cleanups.items():
        if done.problem:
            out.append(f"  CLEANUP FAILED on {label}: {done.problem}; delete {PREFIX}* by hand")
        elif done.left:
            out.append(f"  CLEANUP INCOMPLETE on {label}: still there: {', '.join(done.left[:5])}")
        else:
            out.append(f"  cleanup {label}: deleted {done.deleted} object(s) this run created; none left")
    verdict = {EXIT_OK: "RESULT: the sides agree (exit 0)", EXIT_DIFFER: "RESULT: the sides differ (exit 1)",
               EXIT_USAGE: "RESULT: could not run (exit 2)"}
    out.append(verdict.get(run.exit_code, f"RESULT: interrupted (exit {run.exit_code})"))
    return "\n".join(out)


def as_json(run: CompareRun) -> dict[str, Any]:
    verdicts = [r.verdict for r in run.results]
    return {
        "run": run.run_id,
        "exit_code": run.exit_code,
        "sides": {s.label: {"given": s.given, "url": s.url, "profile": s.profile, "version": s.version}
                  for s in run.sides},
        "sequence": run.sequence.name if run.sequence else None,
        "totals": {v: verdicts.count(v) for v in ("agree", "differ", "accepted", "skipped")},
        "steps": [
            {
                "name": r.step.name,
                "group": r.step.group,
                "source": r.step.source,
                "request": r.step.label,
                "verdict": r.verdict,
                "a": r.a.as_json(),
                "b": r.b.as_json(),
                "differences": [d.as_json() for d in r.differences],
                "accepted": [{**d.as_json(), "reason": why} for d, why in r.accepted],
            }
            for r in run.results
        ],
        "cleanup": {label: c.as_json() for label, c in run.cleanups.items()},
        "problem": run.problem,
        "interrupted": run.interrupted,
    }


def junit(run: CompareRun) -> str:
    """JUnit XML, one test case per request."""
    suite = ET.Element("testsuite", name="vkmock compare", tests=str(len(run.results)),
                       failures=str(len(run.differing)),
                       skipped=str(sum(r.verdict == "skipped" for r in run.results)))
    for result in run.results:
        case = ET.SubElement(suite, "testcase", classname=f"compare.{result.step.group or 'steps'}",
                             name=result.step.name)
        if result.verdict == "differ":
            text = [f"A: {result.a.request} -> {result.a.brief()}", f"B: {result.b.request} -> {result.b.brief()}"]
            text += [f"[{d.kind}] {d.line()}" for d in result.differences]
            failure = ET.SubElement(case, "failure", message=f"{len(result.differences)} difference(s): "
                                    + ", ".join(sorted({d.kind for d in result.differences})))
            failure.text = "\n".join(text)
        elif result.verdict == "skipped":
            ET.SubElement(case, "skipped", message=result.a.skipped or "")
    if run.problem:
        case = ET.SubElement(suite, "testcase", classname="compare", name="run")
        ET.SubElement(case, "error", message=run.problem)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


# ---- the command -----------------------------------------------------------------------------------------

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.command(context_settings=CONTEXT)
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--a-token", envvar="VKMOCK_COMPARE_A_TOKEN", default=None,
              help="Bearer token for side A (env VKMOCK_COMPARE_A_TOKEN). Never printed.")
@click.option("--a-basic", envvar="VKMOCK_COMPARE_A_BASIC", default=None, metavar="USER:PASS",
              help="Basic credentials for side A (env VKMOCK_COMPARE_A_BASIC).")
@click.option("--b-token", envvar="VKMOCK_COMPARE_B_TOKEN", default=None,
              help="Bearer token for side B (env VKMOCK_COMPARE_B_TOKEN).")
@click.option("--b-basic", envvar="VKMOCK_COMPARE_B_BASIC", default=None, metavar="USER:PASS",
              help="Basic credentials for side B (env VKMOCK_COMPARE_B_BASIC).")
@click.option("--allow-writes", is_flag=True,
              help=f"Run the whole sequence (creates, updates, deletes). Everything is named {PREFIX}* and deleted "
              "at the end, even on failure or Ctrl-C.")
@click.option("--sequence", default=None, metavar="NAME|FILE",
              help="Built-in sequence (1.4, 1.5) or a file. [default: the sides' Bifrost version, the older one]")
@click.option("--no-builtin", "no_builtin", is_flag=True, help="Run only --requests/--har, not the built-in steps.")
@click.option("--requests", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Add your own steps (YAML/JSON, the sequence format). Repeatable.")
@click.option("--har", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Replay the /api/governance calls of a HAR file. Repeatable.")
@click.option("--allow", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Accepted differences (YAML/JSON list of {step, kind, path, reason}).")
@click.option("--only", multiple=True, metavar="PATTERN", help="Run only steps whose name matches (glob).")
@click.option("--report", "reports", multiple=True, metavar="FORMAT:PATH",
              help="Write junit:PATH (one case per request) or json:PATH. Repeatable.")
@click.option("--json", "as_json_flag", is_flag=True, help="Print the JSON report instead of the summary.")
@click.option("--request-timeout", type=click.FloatRange(0.1, 600), default=10.0, show_default=True,
              help="Seconds to wait for each answer.")
@click.option("--verbose", "-v", is_flag=True, help="Print each step's verdict as it runs.")
def compare_command(**kwargs: Any) -> None:
    """Send the same requests to two deployments and name every difference in their answers.

    \b
    A and B are base URLs (http://bifrost.staging:8080) or mock[:OPTIONS], a local vkmock started with those
    serve options (mock:--bifrost 1.5). Read-only unless --allow-writes.
    Exit status: 0 the sides agree, 1 they differ, 2 usage or connection error, 130/143 interrupted.

    \b
    Examples:
      vkmock compare mock:--bifrost 1.5 'mock:--bifrost 1.5 --upstream-quirks' --allow-writes
      vkmock compare http://127.0.0.1:8080 'mock:--bifrost 1.5' --a-basic admin:secret --allow-writes
      vkmock compare 'mock:--bifrost 1.4' 'mock:--bifrost 1.5' --allow-writes --report junit:compare.xml
    """
    verbose = kwargs.pop("verbose")
    as_json_flag = kwargs.pop("as_json_flag")
    kwargs["builtin"] = not kwargs.pop("no_builtin")
    options = CompareOptions(**kwargs, as_json=as_json_flag)
    run = run_compare(options, echo=(lambda line: click.echo(line, err=True)) if verbose else None)
    if as_json_flag and (run.exit_code != EXIT_USAGE or run.results):
        click.echo(_redact(json.dumps(as_json(run), indent=2, ensure_ascii=False), [s.credentials for s in run.sides]))
    else:
        click.echo(run.summary, err=run.exit_code == EXIT_USAGE)
    sys.exit(run.exit_code)

