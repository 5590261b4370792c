"""API keys never reach the store, logs, reports, error messages or exported plans (issue 17, item 5).

A job runs against a loopback chat server with a key that is a unique marker. The server checks the key
arrived (so the test fails if the key is not used at all), fails the first request with an error that echoes
the key (some servers quote the key they refused), and refuses one item for good with the key in the error.
Then every artefact of the run is searched for the marker: the store's bytes (WAL included), the verdicts,
the report, the export, the plan kept with the run and shown by a dry run, the command output, every log
record at DEBUG, and the verdicts' error texts.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jurist.cli import app
from jurist.engine import Store

pytestmark = pytest.mark.timeout(120)
runner = CliRunner()
MARKER = "sk-jurist-marker-" + uuid.uuid4().hex  # a key no artefact may contain


class _KeyEchoingServer(BaseHTTPRequestHandler):
    """A chat-completions endpoint that wants ``Bearer MARKER`` and puts the key in its error messages."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        auth = self.headers.get("Authorization", "")
        with self.lock:
            self.seen.append(auth)
            first = len(self.seen) == 1
        text = json.dumps(body["messages"])
        if auth != f"Bearer {MARKER}":
            self._reply(401, {"error": {"message": f"Incorrect API key provided: {auth}"}})
        elif first:  # retried by the engine: its message must not keep the key either
            self._reply(500, {"error": {"message": f"overloaded while serving {auth}"}})
        elif "REFUSED" in text:
            self._reply(403, {"error": {"message": f"key {MARKER} may not judge this item"}})
        else:
            top = [{"token": "A", "logprob": -0.2}, {"token": "B", "logprob": -1.7}]
            self._reply(200, {"model": "m", "usage": {"prompt_tokens": 10, "completion_tokens": 1},
                              "choices": [{"message": {"content": "A"},
                                           "logprobs": {"content": [{"token": "A", "logprob": -0.2,
                                                                     "top_logprobs": top}]}}]})


@pytest.fixture()
def server():
    _KeyEchoingServer.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeyEchoingServer)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        if record.exc_info and record.exc_info[1] is not None:
            self.lines.append(repr(record.exc_info[1]))


def _leaks(texts: dict[str, str | bytes]) -> list[str]:
    found = []
    for where, text in texts.items():
        blob = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
        if MARKER.encode() in blob or MARKER[-16:].encode() in blob:  # the whole key or its end
            found.append(where)
    return found


def test_an_api_key_reaches_no_artefact_of_a_run(tmp_path: Path, server: str, monkeypatch) -> None:
    monkeypatch.setenv("JURIST_API_KEY", MARKER)
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{k}", "input": f"Question {k}?", "response_a": f"yes {k}",
                                        "response_b": "REFUSED" if k == 2 else f"no {k}"}) + "\n"
                            for k in range(4)))
    store = tmp_path / "runs.db"
    handler = _Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    outputs: dict[str, str | bytes] = {}
    try:
        ran = runner.invoke(app, ["compare", str(data), "--judge", server, "--model", "m", "--store", str(store),
                                  "--out", str(tmp_path / "verdicts.jsonl"), "--report", str(tmp_path / "run.html"),
                                  "--concurrency", "1"])
        outputs["compare output"] = ran.output
        (record,) = Store(store).runs()
        steps = {
            "export": ["export", record.id, "--out", str(tmp_path / "export.jsonl"), "--store", str(store)],
            "report": ["report", record.id, "--out", str(tmp_path / "again.html"), "--data", str(data),
                       "--store", str(store)],
            "runs": ["runs", "--store", str(store)],
            "dry run": ["compare", str(data), "--judge", server, "--model", "m", "--dry-run", "--store", str(store)],
            "the run's plan, dry run": ["run", record.id, str(data), "--dry-run", "--store", str(store)],
        }
        for name, argv in steps.items():
            result = runner.invoke(app, argv)
            assert result.exit_code == 0, (name, result.output)
            outputs[f"{name} output"] = result.output
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    # the key was used, the echoing failures happened, and the run finished with one failed item
    assert _KeyEchoingServer.seen and all(seen == f"Bearer {MARKER}" for seen in _KeyEchoingServer.seen)
    assert ran.exit_code == 0, ran.output
    judgments = list(Store(store).judgments(record.id))
    failed = [j for j in judgments if j.verdict.status == "failed"]
    assert len(judgments) == 4 and [j.item_id for j in failed] == ["p2"]
    assert "HTTP 403" in failed[0].verdict.error and "may not judge this item" in failed[0].verdict.error
    assert record.totals["retries"] >= 1  # the first request's 500 was retried

    artefacts = {str(path.relative_to(tmp_path)): path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert {"runs.db", "verdicts.jsonl", "run.html", "export.jsonl", "again.html"} <= set(artefacts)
    texts = {**artefacts, **outputs, "log": "\n".join(handler.lines),
             "verdict errors": "\n".join(str(j.verdict.error) for j in judgments),
             "stored plan": json.dumps(record.plan), "run record": record.model_dump_json()}
    assert _leaks(texts) == []


@pytest.mark.parametrize("argv", [[], ["--dry-run"]])
def test_a_judge_url_with_a_key_in_it_is_refused_without_showing_the_key(tmp_path: Path, argv: list[str]) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"id": "1", "input": "q", "response_a": "a", "response_b": "b"}) + "\n")
    url = f"http://judge:{MARKER}@127.0.0.1:9/v1"
    result = runner.invoke(app, ["compare", str(data), "--judge", url, "--model", "m",
                                 "--store", str(tmp_path / "runs.db"), *argv])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "must not carry credentials" in said
    assert "JURIST_API_KEY" in said and "http://***@127.0.0.1:9/v1" in said
    assert _leaks({"output": result.output}) == []
    assert not (tmp_path / "runs.db").exists() or Store(tmp_path / "runs.db").runs() == []


def test_the_plan_and_the_spec_parser_refuse_credentials_and_redact_them() -> None:
    from jurist.backends.base import BackendError
    from jurist.backends.specs import parse_spec, redact
    from jurist.plan import Plan, PlanError

    url = f"https://user:{MARKER}@judge.example/v1"
    with pytest.raises(PlanError) as error:
        Plan.parse({"task": "compare", "judge": {"jury": ["local", url]}})
    assert "`judge.jury`" in str(error.value) and _leaks({"error": str(error.value)}) == []
    with pytest.raises(PlanError) as error:
        Plan.parse({"task": "compare", "judge": {"spec": url, "model": "m"}})
    assert _leaks({"error": str(error.value)}) == []
    with pytest.raises(BackendError) as raised:
        parse_spec(url)
    assert _leaks({"error": str(raised.value)}) == []
    with pytest.raises(BackendError) as raised:
        parse_spec(f"htp://x:{MARKER}@host/v1")  # an unknown scheme is named, its credentials are not
    assert "unknown judge" in str(raised.value) and _leaks({"error": str(raised.value)}) == []
    assert redact(f"see {url} and http://h:1/v1") == "see https://***@judge.example/v1 and http://h:1/v1"
    with pytest.raises(PlanError, match="judge.api_key") as error:  # a key put where no field takes one
        Plan.parse({"task": "compare", "judge": {"spec": "local", "api_key": MARKER}})
    assert _leaks({"error": str(error.value)}) == []


def test_the_openai_judge_sends_the_key_from_its_environment_variable(monkeypatch) -> None:
    from jurist.backends.registry import resolve_backend

    monkeypatch.setenv("OPENAI_API_KEY", MARKER)
    backend = resolve_backend("openai:gpt-4o-mini")
    assert backend._headers["Authorization"] == f"Bearer {MARKER}"  # type: ignore[attr-defined]
    assert MARKER not in backend.spec
