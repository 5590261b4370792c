"""Assembling a packaged model from its parts: order, checksum, atomicity, clear errors."""

from __future__ import annotations

import hashlib
import sys

import pytest

from jurist.backends import models
from jurist.backends.models import LocalModel, ModelUnavailable, model_path


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Three installed 'part packages' holding slices of a fake GGUF file."""
    payload = b"GGUF" + bytes(range(256)) * 40
    slices = [payload[:3000], payload[3000:7000], payload[7000:]]
    for index, data in enumerate(slices, start=1):
        package = tmp_path / "site" / f"fakepart{index}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{index:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("JURIST_CACHE_DIR", str(tmp_path / "cache"))
    model = LocalModel(name="fake", packages=("fakepart1", "fakepart2", "fakepart3"), size=len(payload),
                       sha256=hashlib.sha256(payload).hexdigest(), description="fake", extra="local")
    monkeypatch.setitem(models.MODELS, "fake", model)
    yield model, payload
    for index in range(1, 4):
        sys.modules.pop(f"fakepart{index}", None)


def test_assembles_in_order_once(fake_parts):
    model, payload = fake_parts
    path = model_path("fake")
    assert path.read_bytes() == payload
    mtime = path.stat().st_mtime_ns
    assert model_path("fake").stat().st_mtime_ns == mtime  # assembled once, then reused


def test_checksum_mismatch_is_an_error_and_leaves_nothing(fake_parts, monkeypatch):
    model, _ = fake_parts
    monkeypatch.setitem(models.MODELS, "fake", LocalModel(**{**model.__dict__, "sha256": "0" * 64}))
    with pytest.raises(ModelUnavailable, match="reinstall"):
        model_path("fake")
    assert list(models.cache_dir().glob("*")) == []


def test_missing_part_names_the_package_and_the_extra(fake_parts, monkeypatch):
    model, _ = fake_parts
    monkeypatch.setitem(models.MODELS, "fake", LocalModel(**{**model.__dict__, "packages": ("fakepart1", "nopart9")}))
    with pytest.raises(ModelUnavailable, match=r"nopart9.*jurist\[local\]"):
        model_path("fake")


def test_unknown_model_key():
    with pytest.raises(ModelUnavailable, match="unknown local model"):
        model_path("13b")
