"""Images and video frames: loading, content parts to vision judges, captions/transcripts for text-only judges."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib

import pytest
from typer.testing import CliRunner

from jurist import Item, Judge, OpenAICompatibleBackend, ScriptedBackend
from jurist.api import compare, score
from jurist.backends import BackendError, resolve_backend
from jurist.cli import app
from jurist.engine.store import completion_key
from jurist.io import load_items, read_judgments
from jurist.media import MEDIA_MARK, attach_media, timestamp_text
from jurist.protocols import PointwiseProtocol
from jurist.protocols.reference import ReferenceProtocol
from jurist.testing import MockOpenAIServer
from jurist.types import CompletionRequest, Frame, Message

runner = CliRunner()


def png(rgb: tuple[int, int, int]) -> bytes:
    """A valid 1x1 PNG of one colour (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes([0, *rgb])))
            + chunk(b"IEND", b""))


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture
def media_dir(tmp_path):
    (tmp_path / "img").mkdir()
    for name, rgb in {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}.items():
        (tmp_path / "img" / f"{name}.png").write_bytes(png(rgb))
    return tmp_path


def image_parts(body: dict) -> list[dict]:
    return [part for m in body["messages"] if isinstance(m["content"], list) for part in m["content"]]


# -- loading -------------------------------------------------------------------------------------


def test_images_and_frames_load_relative_to_the_data_file_and_bad_ones_name_line_and_field(media_dir):
    data = media_dir / "items.jsonl"
    rows = [
        {"id": "ok", "input": "Describe.", "response": "Red.", "images": ["img/red.png", "https://x.test/a.jpg"],
         "frames": [{"timestamp": 2.0, "image": "img/blue.png"}, {"timestamp": 0.5, "image": "img/green.png"}],
         "caption": "A red square.", "transcript": "Green, then blue."},
        {"id": "one", "input": "Describe.", "response": "x", "images": "img/red.png"},
        {"id": "missing", "input": "Describe.", "response": "x", "images": ["img/red.png", "img/nope.png"]},
        {"id": "stamp", "input": "Describe.", "response": "x", "frames": [{"timestamp": -1, "image": "img/red.png"}]},
        {"id": "uri", "input": "Describe.", "response": "x", "images": ["data:text/plain;base64,aGk="]},
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    loaded = load_items(data, "score")
    ok, one = loaded.items
    assert ok.images == [str(media_dir / "img" / "red.png"), "https://x.test/a.jpg"]
    assert ok.frames == [Frame(timestamp=2.0, image=str(media_dir / "img" / "blue.png")),
                         Frame(timestamp=0.5, image=str(media_dir / "img" / "green.png"))]
    assert (ok.caption, ok.transcript) == ("A red square.", "Green, then blue.")
    assert "images" not in ok.metadata and "caption" not in ok.metadata
    assert one.images == [str(media_dir / "img" / "red.png")]
    errors = [str(e) for e in loaded.errors]
    assert errors[0].startswith(f"{data}:3: field 'images[1]': no image file 'img/nope.png'")
    assert errors[1].startswith(f"{data}:4: field 'frames[0].timestamp'")
    assert errors[2].startswith(f"{data}:5: field 'images[0]': a data URI must look like data:image/")


# -- rendering -----------------------------------------------------------------------------------


def test_a_vision_judge_gets_content_parts_with_the_image_bytes_and_frames_in_time_order(media_dir):
    red, green, blue = (media_dir / "img" / f"{c}.png" for c in ("red", "green", "blue"))
    item = Item(id="v", input="What happens?", candidates=["It turns blue."], images=[str(red)],
                frames=[Frame(timestamp=61.5, image=str(blue)), Frame(timestamp=1.0, image=str(green))])
    request, modality = Judge(ScriptedBackend(lambda r: {}, vision=True), PointwiseProtocol()).render(item, 0)
    assert modality == "image+frames"
    parts = request.messages[-1].content
    assert isinstance(parts, list)
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert urls == [data_uri(red.read_bytes()), data_uri(green.read_bytes()), data_uri(blue.read_bytes())]
    texts = "".join(p["text"] for p in parts if p["type"] == "text")
    assert texts.index("[frame at 00:01.0]") < texts.index("[frame at 01:01.5]")
    assert parts[-1]["type"] == "text" and "Reply with only the score" in parts[-1]["text"]  # the prompt follows
    assert timestamp_text(3725.5) == "1:02:05.5" and timestamp_text(0.04) == "00:00.0"


def test_a_text_only_judge_reads_the_caption_or_transcript_and_never_judges_an_unseen_image(media_dir):
    red = str(media_dir / "img" / "red.png")
    backend = ScriptedBackend(lambda r: {"4": 1.0})
    item = Item(id="c", input="What colour?", candidates=["Red"], images=[red], caption="A red square.",
                frames=[Frame(timestamp=0, image=red)], transcript="A voice says: red.")
    verdict = asyncio.run(Judge(backend, PointwiseProtocol()).ajudge(item))
    sent = backend.calls[0].messages[-1]
    assert isinstance(sent.content, str) and "A red square." in sent.content and "A voice says: red." in sent.content
    assert verdict.status == "scored" and verdict.metadata["modality"] == "caption+transcript"
    from jurist.report import write_report
    from jurist.types import Judgment

    report = media_dir / "report.html"
    write_report(report, title="media", judgments=[Judgment(item_id="c", protocol="pointwise", judge="scripted",
                                                           verdict=verdict)], items={"c": item})
    assert "judged from caption+transcript" in report.read_text()  # the report says what the judge saw
    bare = asyncio.run(Judge(backend, PointwiseProtocol()).ajudge(item.model_copy(update={"caption": None})))
    assert bare.status == "failed" and "does not accept images" in bare.error and "caption" in bare.error
    assert len(backend.calls) == 1  # nothing was sent for the item without a stand-in


def test_templates_that_place_the_media_get_them_there_and_the_marker_never_leaks():
    item = Item(id="m", input="Q?", candidates=["A"], reference="A", caption="A cat on a mat.")
    protocol = ReferenceProtocol("shown")
    request, modality = Judge(ScriptedBackend(lambda r: {}), protocol).render(item, 0)
    text = request.messages[-1].text
    assert modality == "caption" and MEDIA_MARK not in text
    assert text.index("[End of question]") < text.index("A cat on a mat.") < text.index("[Reference answer]")
    plain, modality = Judge(ScriptedBackend(lambda r: {}), protocol).render(item.model_copy(update={"caption": None}),
                                                                            0)
    assert modality == "text" and MEDIA_MARK not in plain.messages[-1].text
    marked = CompletionRequest(messages=[Message(role="user", content=f"a {MEDIA_MARK} b")])
    assert attach_media(marked, item.model_copy(update={"caption": None}), False)[0].messages[0].content == "a  b"


def test_the_cache_key_covers_the_image_bytes_not_just_the_path(media_dir):
    path = media_dir / "img" / "changing.png"
    item = Item(id="k", input="Colour?", candidates=["Red"], images=[str(path)])
    judge = Judge(ScriptedBackend(lambda r: {}, vision=True), PointwiseProtocol())
    path.write_bytes(png((255, 0, 0)))
    first = completion_key("spec", judge.render(item, 0)[0])
    path.write_bytes(png((0, 0, 255)) + b"\0")  # another picture at the same path (size differs, so mtime need not)
    second = completion_key("spec", judge.render(item, 0)[0])
    assert first != second


def test_embedded_specs_refuse_vision():
    with pytest.raises(BackendError, match="reads text only"):
        resolve_backend("local", vision=True)


# -- loopback server -----------------------------------------------------------------------------


def test_compare_and_score_requests_carry_the_image_and_frames_intact_to_a_vision_server(media_dir, tmp_path):
    red, green, blue = (media_dir / "img" / f"{c}.png" for c in ("red", "green", "blue"))
    item = Item(id="p", input="Which description of the clip is right?", candidates=["red then blue", "blue only"],
                images=[str(red)], frames=[Frame(timestamp=3.5, image=str(blue)), Frame(timestamp=0.0,
                                                                                           image=str(green))])
    with MockOpenAIServer(lambda messages: {"A": 0.7, "B": 0.3}) as server:
        backend = OpenAICompatibleBackend("vlm", base_url=server.base_url, vision=True)
        result = compare([item], judge=backend, store=tmp_path / "runs.db", progress=False)
        scored = score([item.model_copy(update={"candidates": ["red then blue"]})],
                       judge=OpenAICompatibleBackend("vlm", base_url=server.base_url, vision=True), progress=False)
        bodies = list(server.bodies)
    assert result.judgments[0].verdict.status == "scored"
    assert result.judgments[0].verdict.metadata["modality"] == "image+frames"
    assert scored.judgments[0].verdict.metadata["modality"] == "image+frames"
    assert len(bodies) == 3  # two orders + one score
    for body in bodies:
        parts = image_parts(body)
        urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        assert urls == [data_uri(red.read_bytes()), data_uri(green.read_bytes()), data_uri(blue.read_bytes())]
        decoded = base64.b64decode(urls[2].split(",", 1)[1])
        assert decoded == blue.read_bytes()  # the same bytes arrived
        texts = [p["text"] for p in parts if p["type"] == "text"]
        joined = "".join(texts)
        assert joined.index("[frame at 00:00.0]") < joined.index("[frame at 00:03.5]")
        kinds = [p["type"] for p in parts]
        assert kinds[0] == "image_url" and kinds[-1] == "text"  # the media open the message, the prompt follows


def test_cli_vision_flag_sends_images_and_without_it_a_captionless_item_fails(media_dir):
    data = media_dir / "items.jsonl"
    data.write_text(json.dumps({"id": "i", "input": "Colour?", "response": "Red", "images": ["img/red.png"]}) + "\n"
                    + json.dumps({"id": "c", "input": "Colour?", "response": "Red", "images": ["img/red.png"],
                                  "caption": "A red square."}) + "\n")
    out = media_dir / "out.jsonl"
    with MockOpenAIServer(lambda messages: {"4": 0.6, "5": 0.4}) as server:
        common = ["score", str(data), "--judge", server.base_url, "--model", "vlm", "--out", str(out)]
        seen = runner.invoke(app, [*common, "--set", "judge.vision=true", "--store", str(media_dir / "a.db")])
        assert seen.exit_code == 0, seen.output
        with_vision = {j.item_id: j.verdict for j in read_judgments(out)}
        blind = runner.invoke(app, [*common, "--store", str(media_dir / "b.db")])
        assert blind.exit_code == 0, blind.output
        without = {j.item_id: j.verdict for j in read_judgments(out)}
        bodies = list(server.bodies)
    assert with_vision["i"].metadata["modality"] == with_vision["c"].metadata["modality"] == "image"
    assert without["i"].status == "failed" and "does not accept images" in without["i"].error
    assert without["c"].status == "scored" and without["c"].metadata["modality"] == "caption"
    assert sum(1 for body in bodies if image_parts(body)) == 2 and len(bodies) == 3


# -- the real embedded model ---------------------------------------------------------------------


@pytest.mark.model
def test_embedded_judge_refuses_image_parts_and_grades_with_a_caption_standing_in(embedded, media_dir):
    parts = [{"type": "text", "text": "Colour?"},
             {"type": "image_url", "image_url": {"url": data_uri(png((255, 0, 0)))}}]
    with pytest.raises(BackendError, match="reads text only"):
        asyncio.run(embedded.complete(CompletionRequest(messages=[Message(role="user", content=parts)])))
    protocol = ReferenceProtocol("hidden")
    base = Item(id="apple", input="What fruit is shown in the image?", candidates=["It is an apple."],
                images=[str(media_dir / "img" / "red.png")], caption="A photo of a red apple on a wooden table.")
    right = asyncio.run(Judge(embedded, protocol).ajudge(base))
    wrong = asyncio.run(Judge(embedded, protocol).ajudge(base.model_copy(update={"candidates": ["It is a banana."]})))
    assert right.status == wrong.status == "scored"
    assert right.metadata["modality"] == wrong.metadata["modality"] == "caption"
    assert right.score > wrong.score, (right.score, wrong.score)
