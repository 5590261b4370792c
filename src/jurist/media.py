"""Images and video frames on the way to a judge.

An item may carry ``images`` (local paths, ``http(s)`` URLs or ``data:`` URIs)
and ``frames`` (images with a timestamp). :func:`attach_media` puts them into a
rendered request as OpenAI-style content parts when the backend accepts images
(``backend.accepts_images``), or, for a text-only judge, puts the item's
``caption`` (for images) or ``transcript`` (for frames) there as text. It
returns the modality that was judged, which the Judge records on the verdict as
``verdict.metadata["modality"]``:

``"image"`` / ``"frames"``
    the pictures themselves went to the judge;
``"caption"`` / ``"transcript"``
    a text stand-in went instead (the judge never saw the pictures);
``"text"``
    the item has no media.

Several apply at once joined with ``+`` (``"image+transcript"``). When neither
the pictures can be sent nor a stand-in exists, :class:`MediaError` is raised
(the Judge turns it into a failed verdict): a judge never grades an image it
did not see as if it had.

Where the media go: a template that places ``{{ media }}`` gets them there
(protocols pass :func:`media_marker` as ``media``); otherwise they open the
first user message. Local files become base64 ``data:`` URIs in the request
itself, so the completion cache key covers the image bytes, not just the path.
Frames are sent in timestamp order, each after a ``[frame at MM:SS.s]`` line.
"""

from __future__ import annotations

import base64
import mimetypes
import os
from functools import lru_cache
from pathlib import Path

from jurist.types import CompletionRequest, ContentPart, Frame, Item, Message

__all__ = ["MEDIA_MARK", "MediaError", "attach_media", "has_media", "image_url", "media_marker", "modality_of",
           "timestamp_text"]

# Rendered in place of the media by templates that place them; replaced before the request leaves.
MEDIA_MARK = "\u27e6jurist:media\u27e7"

REMOTE_PREFIXES = ("http://", "https://", "data:")


class MediaError(ValueError):
    """An item's media cannot be given to this judge (or a file cannot be read)."""


def has_media(item: Item) -> bool:
    return bool(item.images or item.frames or item.caption or item.transcript)


def media_marker(item: Item) -> str:
    """What a template's ``{{ media }}`` renders as: the marker when the item has media, else ``""``."""
    return MEDIA_MARK if has_media(item) else ""


def timestamp_text(seconds: float) -> str:
    """``61.5`` -> ``"01:01.5"``; hours when needed (``"1:00:00.0"``)."""
    tenths = round(seconds * 10)
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    text = f"{minutes:02d}:{rest // 10:02d}.{rest % 10}"
    return f"{hours}:{text}" if hours else text


@lru_cache(maxsize=256)
def _data_uri(path: str, mtime_ns: int, size: int) -> str:
    """A local image as a data URI (cached per file version: frames are re-sent for every question)."""
    mime = mimetypes.guess_type(path)[0]
    if mime is None or not mime.startswith("image/"):
        raise MediaError(f"{path}: not an image file type (expected .png, .jpg, .gif, .webp...)")
    data = Path(path).read_bytes()
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_url(ref: str) -> str:
    """The URL a judge gets for an image: URLs and data URIs as they are, local files as data URIs."""
    if ref.startswith(REMOTE_PREFIXES):
        return ref
    try:
        stat = os.stat(ref)
    except OSError as error:
        raise MediaError(f"cannot read image {ref}: {error.strerror or error}") from error
    return _data_uri(str(Path(ref).resolve()), stat.st_mtime_ns, stat.st_size)


def _image_part(ref: str) -> ContentPart:
    return {"type": "image_url", "image_url": {"url": image_url(ref)}}


def _text_part(text: str) -> ContentPart:
    return {"type": "text", "text": text}


def _frame_parts(frames: list[Frame]) -> list[ContentPart]:
    parts: list[ContentPart] = []
    for frame in sorted(frames, key=lambda f: f.timestamp):
        parts += [_text_part(f"[frame at {timestamp_text(frame.timestamp)}]"), _image_part(frame.image)]
    return parts


def modality_of(item: Item, accepts_images: bool) -> str:
    """The modality a judge (accepting images or not) gets for ``item``; raises MediaError when none."""
    modalities: list[str] = []
    where = f" ({item.source.path}:{item.source.line})" if item.source else ""
    # Each kind of picture has a text stand-in for judges that cannot see it.
    for pictures, kind, noun, stand_in, name in ((item.images, "image", "image(s)", item.caption, "caption"),
                                                 (item.frames, "frames", "video frame(s)", item.transcript,
                                                  "transcript")):
        if pictures and accepts_images:
            modalities.append(kind)
        elif stand_in:
            modalities.append(name)
        elif pictures:
            raise MediaError(f"item {item.id}{where} has {len(pictures)} {noun}, the judge does not accept images, "
                             f"and the item has no '{name}' to judge instead (use a judge that sees images, e.g. an "
                             f"http judge with `judge.vision`, or add a {name})")
    return "+".join(modalities) or "text"


def _media(item: Item, accepts_images: bool) -> tuple[list[ContentPart], str]:
    """The media as content parts (text parts only for a text-only judge) and the modality judged."""
    modality = modality_of(item, accepts_images)
    used = modality.split("+")
    parts: list[ContentPart] = []
    if "image" in used:
        parts += [_image_part(ref) for ref in item.images]
    if "caption" in used:
        parts.append(_text_part(f"[Image description]\n{(item.caption or '').strip()}\n[End of image description]"))
    if "frames" in used:
        parts += [_text_part("[Video frames]"), *_frame_parts(item.frames), _text_part("[End of video frames]")]
    if "transcript" in used:
        parts.append(_text_part(f"[Video transcript]\n{(item.transcript or '').strip()}\n[End of video transcript]"))
    return parts, modality


def _merge(parts: list[ContentPart]) -> str | list[ContentPart]:
    """Adjacent text parts joined; all-text content becomes a plain string (any judge reads it)."""
    merged: list[ContentPart] = []
    for part in parts:
        if part["type"] == "text":
            if not part["text"]:
                continue
            if merged and merged[-1]["type"] == "text":
                merged[-1] = _text_part(merged[-1]["text"] + part["text"])
                continue
        merged.append(part)
    if all(part["type"] == "text" for part in merged):
        return "".join(part["text"] for part in merged)
    return merged


def _place(message: Message, media: list[ContentPart]) -> Message:
    text = message.text
    if MEDIA_MARK in text:
        before, _, after = text.partition(MEDIA_MARK)
        after = after.replace(MEDIA_MARK, "")  # a template placing the media twice gets them once
    else:
        before, after = "", "\n\n" + text
    spaced = [_text_part(before)] + _spaced(media) + [_text_part(after)]
    return Message(role=message.role, content=_merge(spaced))


def _spaced(parts: list[ContentPart]) -> list[ContentPart]:
    """Each text part after the first on a line of its own."""
    out: list[ContentPart] = []
    for index, part in enumerate(parts):
        if index and part["type"] == "text":
            out.append(_text_part("\n"))
        out.append(part)
    return out


def attach_media(request: CompletionRequest, item: Item, accepts_images: bool) -> tuple[CompletionRequest, str]:
    """``request`` with the item's media in place, and the modality judged (see the module docstring)."""
    if not has_media(item):
        if any(MEDIA_MARK in m.text for m in request.messages):
            request = request.model_copy(update={"messages": [
                Message(role=m.role, content=m.text.replace(MEDIA_MARK, "")) if MEDIA_MARK in m.text else m
                for m in request.messages]})
        return request, "text"
    media, modality = _media(item, accepts_images)
    messages = list(request.messages)
    marked = [i for i, m in enumerate(messages) if MEDIA_MARK in m.text]
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    target = marked[0] if marked else users[0] if users else None
    if target is None:
        raise MediaError(f"item {item.id}: the rendered request has no user message to carry its media")
    messages[target] = _place(messages[target], media)
    return request.model_copy(update={"messages": messages}), modality
