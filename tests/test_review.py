"""The review app: labels committed to the store, CSRF/origin/token guards, agreement, golden-set export
read by calibrate, learn and meta, and the whole flow in headless Chromium with the keyboard."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from browser import chromium_page, screenshot, serve  # noqa: E402
from review_data import cascade_store, pair_items  # noqa: E402

from jurist.cli import app as cli  # noqa: E402
from jurist.engine import Store  # noqa: E402
from jurist.io import load_items, read_judgments  # noqa: E402
from jurist.report.review import create_app  # noqa: E402

runner = CliRunner()


def _csrf(html: str) -> str:
    return html.split('name="csrf" value="')[1].split('"')[0]


def _client(store: Store, **kw) -> TestClient:
    return TestClient(create_app(store, **kw), base_url="http://127.0.0.1:8765")


def test_a_label_is_committed_at_once_and_replaces_the_annotators_earlier_one(tmp_path):
    store, run = cascade_store(tmp_path / "runs.db")
    store.put_review_label(run, "q3", "ann", "A", "first look")
    # another connection (a fresh one: a Store reads in its own transaction) sees it: committed, not batched
    assert [(x.item_id, x.label, x.note) for x in Store(tmp_path / "runs.db").review_labels()] == [
        ("q3", "A", "first look")]
    store.put_review_label(run, "q3", "ann", "B")
    again = Store(tmp_path / "runs.db")
    assert [x.label for x in again.review_labels(run)] == ["B"]
    assert again.review_queue(run, status="resolved")[0].label == "B"
    with pytest.raises(KeyError):
        store.put_review_label(run, "nope", "ann", "A")
    with pytest.raises(ValueError, match="annotator"):
        store.put_review_label(run, "q3", " ", "A")


def test_forms_need_the_csrf_token_and_the_same_origin(tmp_path):
    store, run = cascade_store(tmp_path / "runs.db")
    client = _client(store)
    csrf = _csrf(client.get("/").text)
    assert client.post("/annotator", data={"name": "ann"}).status_code == 403  # no token
    assert client.post("/annotator", data={"name": "ann", "csrf": csrf},
                       headers={"origin": "http://evil.example"}).status_code == 403
    answer = client.post("/annotator", data={"name": "ann", "csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/item/{run}/q3"
    assert "samesite=strict" in answer.headers["set-cookie"].lower()
    assert client.post("/label", data={"run_id": run, "item_id": "q3", "label": "C", "csrf": csrf}).status_code == 400
    ok = client.post("/label", data={"run_id": run, "item_id": "q3", "label": "A", "csrf": csrf},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == f"/item/{run}/q4"
    assert [x.annotator for x in store.review_labels()] == ["ann"]


def test_a_token_guards_every_request(tmp_path):
    store, _ = cascade_store(tmp_path / "runs.db")
    client = _client(store, token="s3cret")
    assert client.get("/").status_code == 401
    assert client.get("/?token=wrong").status_code == 401
    assert client.get("/?token=s3cret").status_code == 200
    assert client.get("/export.jsonl").status_code == 200  # the cookie set by the first visit
    assert TestClient(create_app(store, token="s3cret")).get("/", headers={"authorization": "Bearer s3cret"}).status_code == 200


def test_the_cli_refuses_no_token_off_loopback_and_exports(tmp_path, monkeypatch):
    from jurist.report import review

    assert review.is_loopback("127.0.0.1") and review.is_loopback("::1") and review.is_loopback("localhost")
    assert not review.is_loopback("0.0.0.0") and not review.is_loopback("192.168.1.5")
    store, run = cascade_store(tmp_path / "runs.db")
    seen = {}
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    result = runner.invoke(cli, ["review", "--store", str(tmp_path / "runs.db"), "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    assert "?token=" in result.output and seen["host"] == "0.0.0.0"
    token = result.output.split("?token=")[1].split()[0]
    assert TestClient(seen["app"]).get("/").status_code == 401
    assert TestClient(seen["app"]).get(f"/?token={token}").status_code == 200


def test_hostile_requests_get_4xx_never_a_crash_and_no_file_is_read(tmp_path):
    store, run = cascade_store(tmp_path / "runs.db")
    client = _client(store)
    csrf = _csrf(client.get("/").text)
    client.post("/annotator", data={"name": "ann", "csrf": csrf})
    # a body over the limit, announced or streamed, is refused before it is read whole
    big = client.post("/label", data={"run_id": run, "item_id": "q3", "label": "A", "csrf": csrf,
                                      "note": "x" * 70_000})
    assert big.status_code == 413
    streamed = client.post("/label", content=(b"n" * 1000 for _ in range(80)),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413
    # secrets that are not ASCII are a mismatch, not a 500 (hmac refuses to compare such strings)
    assert client.post("/annotator", data={"name": "ann", "csrf": "jeton-\u00e9\u6f22"}).status_code == 403
    guarded = _client(store, token="s3cret")
    assert guarded.get("/", params={"token": "\u00e9\u00e9"}).status_code == 401
    # ids and run filters shaped like paths are looked up, never opened
    for path in ("/item/..%2F..%2F..%2Fetc/passwd", "/item/%2e%2e/%2e%2e", f"/item/{run}/..%2F..%2Fetc%2Fpasswd"):
        assert client.get(path).status_code == 404, path
    export = client.get("/export.jsonl", params={"run": "../../../../etc/passwd"})
    assert export.status_code == 200 and export.text == ""
    assert export.headers["content-disposition"] == 'attachment; filename="golden.jsonl"'
    assert client.get("/").status_code == 200  # and the app lives on


def _label_all(store: Store, run: str) -> None:
    # two annotators; they agree on q3, q4, q5 and split on q6; q7 is labelled by one
    for item, a, b in [("q3", "B", "B"), ("q4", "A", "A"), ("q5", "B", "B"), ("q6", "A", "B")]:
        store.put_review_label(run, item, "ann", a, "sure" if item == "q3" else "")
        store.put_review_label(run, item, "bob", b)
    store.put_review_label(run, "q7", "ann", "B")


def test_the_golden_set_is_read_by_calibrate_learn_and_meta(tmp_path):
    store, run = cascade_store(tmp_path / "runs.db")
    _label_all(store, run)
    golden = tmp_path / "golden.jsonl"
    result = runner.invoke(cli, ["review", "--store", str(tmp_path / "runs.db"), "--export", str(golden),
                                 "--run", "cascade"])
    assert result.exit_code == 0, result.output
    assert "(5 labelled items)" in " ".join(result.output.split())
    rows = [json.loads(line) for line in golden.read_text().splitlines()]
    assert [r["label"] for r in rows] == ["B", "A", "B", None, "B"]  # q6 split: no majority
    assert rows[0]["metadata"]["human_labels"] == ["B", "B"] and rows[0]["metadata"]["notes"] == {"ann": "sure"}
    # calibrate and learn load items with DataSource -> load_items (the same call)
    loaded = load_items(golden, task="compare")
    assert loaded.ok and [i.id for i in loaded.items] == ["q3", "q4", "q5", "q6", "q7"]
    assert [i.label for i in loaded.items] == ["B", "A", "B", None, "B"]
    assert loaded.items[0].candidates[1].startswith("Eight.")
    # meta reads them as judgments, against the majority and against each annotator
    judgments = read_judgments(golden)
    assert judgments[0].verdict.p_a == pytest.approx(0.4) and judgments[0].judge == "cascade:j1>j2>human"
    result = runner.invoke(cli, ["meta", str(golden)])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output.lower()
    result = runner.invoke(cli, ["meta", str(golden), "--labels", "human_labels"])
    assert result.exit_code == 0, result.output
    assert "alpha" in result.output.lower()


def test_calibrate_runs_on_the_exported_golden_set(tmp_path):
    from jurist.testing import MockOpenAIServer

    store, run = cascade_store(tmp_path / "runs.db")
    _label_all(store, run)
    golden = tmp_path / "golden.jsonl"
    assert runner.invoke(cli, ["review", "--store", str(tmp_path / "runs.db"), "--export", str(golden)]).exit_code == 0
    with MockOpenAIServer(lambda messages: {"A": 0.7, "B": 0.3}) as server:
        result = runner.invoke(cli, ["calibrate", str(golden), "--chain", f"{server.base_url},human",
                                     "--model", "mock", "--store", str(tmp_path / "cal.db"),
                                     "--out", str(tmp_path / "cascade.json")])
    assert result.exit_code == 0, result.output
    assert "golden items (labelled)" in result.output and "4 of 5" in result.output


def test_the_agreement_page_measures_the_annotators(tmp_path):
    store, run = cascade_store(tmp_path / "runs.db")
    _label_all(store, run)
    html = _client(store).get("/agreement").text
    assert f"run {run}" in html and "5 items labelled by 2 annotators (ann, bob); 4 labelled by two or more" in html
    assert "Krippendorff" in html and "Cohen's kappa: ann vs bob" in html
    # the numbers, with their intervals, are jurist.metrics' on the labels as given (bob did not label q7)
    from html import escape

    from jurist.metrics.agreement import cohen_kappa, krippendorff_alpha

    ann, bob = ["B", "A", "B", "A", "B"], ["B", "A", "B", "B", None]
    kappa, alpha = cohen_kappa(ann[:4], bob[:4]), krippendorff_alpha([ann, bob], level="nominal")
    assert kappa.low < kappa.value < kappa.high and alpha.low < alpha.value
    assert f'<td class="kappa">{escape(kappa.format())}</td>' in html
    assert f'<td class="alpha">{escape(alpha.format())}</td>' in html


def test_labels_survive_a_killed_app(tmp_path):
    """A label is committed when the app answers, so a process killed right after loses nothing."""
    import signal
    import subprocess

    store, run = cascade_store(tmp_path / "runs.db")
    store.close()
    script = f"""
import os, signal
from fastapi.testclient import TestClient
from jurist.engine import Store
from jurist.report.review import create_app
client = TestClient(create_app(Store({str(tmp_path / "runs.db")!r})), base_url="http://127.0.0.1:8765")
csrf = client.get("/").text.split('name="csrf" value="')[1].split('"')[0]
client.post("/annotator", data={{"name": "ann", "csrf": csrf}})
for item, label in (("q3", "B"), ("q4", "A")):
    answer = client.post("/label", data={{"run_id": {run!r}, "item_id": item, "label": label, "note": "seen",
                                          "csrf": csrf}}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
os.kill(os.getpid(), signal.SIGKILL)  # no close, no commit at exit
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    labels = [(x.item_id, x.annotator, x.label, x.note) for x in Store(tmp_path / "runs.db").review_labels(run)]
    assert labels == [("q3", "ann", "B", "seen"), ("q4", "ann", "A", "seen")]


def test_jurist_learn_fits_on_the_exported_golden_set(tmp_path, monkeypatch):
    """`jurist learn` reads the export as it is (a fake feature source stands in for the model's features)."""
    from jurist.learn import learner

    from .test_learn import FakeFeatures

    store, run = cascade_store(tmp_path / "runs.db", n=33)  # 30 items in the queue
    for entry in store.review_queue(run):
        store.put_review_label(run, entry.item_id, "ann", str(entry.item.label))
    golden = tmp_path / "golden.jsonl"
    assert runner.invoke(cli, ["review", "--store", str(tmp_path / "runs.db"), "--export", str(golden)]).exit_code == 0
    monkeypatch.setattr(learner, "make_features", lambda base, layer=None: FakeFeatures())
    result = runner.invoke(cli, ["learn", str(golden), "--out", str(tmp_path / "judge"), "--folds", "3"])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "judge" / "card.json").read_text())
    assert card["data"]["n"] == 30 and card["data"]["balance"] == {"A": 15, "B": 15}


@pytest.mark.browser
def test_label_with_the_keyboard_reload_and_read_back(tmp_path):
    store, run = cascade_store(tmp_path / "runs.db")
    with serve(create_app(store)) as base, chromium_page() as page:
        page.goto(base + "/")
        page.fill("#name", "ann")
        page.click("#start")
        page.wait_for_url(f"**/item/{run}/q3")
        assert page.locator(".candidate").count() == 2  # side by side
        assert "P(A)" in page.inner_text("#verdict") and "0.400" in page.inner_text("#verdict")
        screenshot(page, "review-item.png")
        page.keyboard.press("b")  # q3
        page.wait_for_url(f"**/item/{run}/q4")
        page.keyboard.press("n")
        page.keyboard.type("the second is wrong: Sydney")
        page.keyboard.press("Escape")
        page.keyboard.press("a")  # q4, with the note
        page.wait_for_url(f"**/item/{run}/q5")
        page.keyboard.press("t")  # q5: tie
        page.wait_for_url(f"**/item/{run}/q6")
        assert "3 of 5 labelled by you" in page.inner_text("#progress")
        page.goto(f"{base}/item/{run}/q4")
        page.reload()
        assert "your label: A" in page.inner_text("#mine")
        assert page.input_value("#note") == "the second is wrong: Sydney"
        page.goto(base + "/")
        assert "3 of 5 items labelled by you" in page.inner_text("#progress")
        screenshot(page, "review-queue.png")
        page.context.clear_cookies()  # a second annotator on the same items
        page.goto(base + "/")
        page.fill("#name", "bob")
        page.click("#start")
        page.wait_for_url(f"**/item/{run}/q3")
        page.keyboard.press("b")
        page.wait_for_url(f"**/item/{run}/q4")
        page.keyboard.press("b")
        page.wait_for_url(f"**/item/{run}/q5")
        page.keyboard.press("t")
        page.wait_for_url(f"**/item/{run}/q6")
        page.goto(base + "/agreement")
        assert "3 labelled by two or more" in page.inner_text("main")
        screenshot(page, "review-agreement.png")
        with page.expect_download() as download:
            page.goto(base + "/")
            page.click("text=export golden set")
        exported = Path(download.value.path()).read_text()
        assert not page.errors
    labels = sorted((x.annotator, x.item_id, x.label, x.note) for x in Store(tmp_path / "runs.db").review_labels())
    assert labels == [("ann", "q3", "B", ""), ("ann", "q4", "A", "the second is wrong: Sydney"), ("ann", "q5", "tie", ""),
                      ("bob", "q3", "B", ""), ("bob", "q4", "B", ""), ("bob", "q5", "tie", "")]
    rows = [json.loads(line) for line in exported.splitlines()]
    assert [(r["id"], r["label"], r["metadata"]["human_labels"]) for r in rows] == [
        ("q3", "B", ["B", "B"]), ("q4", None, ["A", "B"]), ("q5", "tie", ["tie", "tie"])]


def test_score_items_take_the_scale_and_export_numbers(tmp_path):
    from jurist.types import Item, Judgment, Verdict

    store = Store(tmp_path / "runs.db")
    run = store.start_run({"judge": "scripted", "protocol": "pointwise", "scale": ["1", "2", "3", "4", "5"]})
    for i in range(3):
        item = Item(id=f"s{i}", input=f"question {i}", candidates=[f"answer {i}"])
        store.put_judgment(run.id, i, Judgment(item_id=item.id, protocol="pointwise", judge="scripted",
                                               verdict=Verdict(status="scored", kind="score", score=3.2,
                                                               top_label="3", confidence=0.5,
                                                               distribution={"3": 0.5, "4": 0.3, "2": 0.2})))
        store.enqueue_review(run.id, item, reason="low confidence")
    client = _client(store)
    csrf = _csrf(client.get("/").text)
    client.post("/annotator", data={"name": "ann", "csrf": csrf})
    page = client.get(f"/item/{run.id}/s0").text
    assert 'data-key="5"' in page and "P(4)" in page and 'class="card candidate"' in page
    assert client.post("/label", data={"run_id": run.id, "item_id": "s0", "label": "6", "csrf": csrf}).status_code == 400
    for item, value in (("s0", "4"), ("s1", "2")):
        client.post("/label", data={"run_id": run.id, "item_id": item, "label": value, "csrf": csrf})
    golden = tmp_path / "golden.jsonl"
    golden.write_text(client.get("/export.jsonl").text)
    loaded = load_items(golden, task="score")
    assert loaded.ok and [(i.id, i.label, i.response) for i in loaded.items] == [("s0", 4.0, "answer 0"),
                                                                                ("s1", 2.0, "answer 1")]
    assert [j.verdict.score for j in read_judgments(golden)] == [3.2, 3.2]
    result = runner.invoke(cli, ["meta", str(golden)])
    assert result.exit_code == 0, result.output


def test_unscored_verdicts_wait_in_the_queue_with_the_judges_answer(tmp_path):
    """A run's unscored items (the judge's answer held no label) are queued for people, shown with the raw answer,
    and a label given there is kept when the item is queued again (a resumed run)."""
    from jurist.api import compare
    from jurist.backends import ScriptedBackend

    def mumbler(request):
        text = "\n".join(m.text for m in request.messages)
        return "Both look <b>fine</b> to me." if "Australia" in text else {"A": 0.8, "B": 0.2}

    store = Store(tmp_path / "runs.db")
    result = compare(pair_items(4), judge=ScriptedBackend(mumbler, spec="mumbler"), store=store, name="mumble",
                     progress=False)
    assert [j.verdict.status for j in result.judgments] == ["scored", "unscored", "scored", "scored"]
    queue = store.review_queue(result.run.id)
    assert [e.item_id for e in queue] == ["q1"] and queue[0].reason.startswith("unscored: ")
    client = _client(store)
    csrf = _csrf(client.get("/").text)
    client.post("/annotator", data={"name": "ann", "csrf": csrf})
    page = client.get(f"/item/{result.run.id}/q1").text
    assert "Both look &lt;b&gt;fine&lt;/b&gt; to me." in page and "Canberra." in page
    client.post("/label", data={"run_id": result.run.id, "item_id": "q1", "label": "B", "csrf": csrf})
    store.enqueue_review(result.run.id, queue[0].item, reason="unscored: again")
    kept = store.review_queue(result.run.id, status=None)
    assert [(e.status, e.label, e.reason) for e in kept] == [("resolved", "B", queue[0].reason)]
