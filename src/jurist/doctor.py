"""``jurist doctor``: what this machine runs the embedded judge with, and what to do about each problem.

Gathers the CPU features, the installed llama.cpp build (flags, llama.cpp's own system info),
the wheel cache, the packaged models (files, sizes, checksums), Python and package versions,
and runs the native smoke test in a child process (``jurist.backends.native``).
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Literal

from jurist.backends import native
from jurist.backends.models import MODELS, ModelUnavailable, cache_dir, file_sha256, part_files

Status = Literal["ok", "warn", "fail"]
PACKAGES = ("jurist", "llama-cpp-python", "numpy", "pydantic", "typer", "aiohttp", "scipy", "ray")


@dataclass
class Finding:
    """One thing checked: its status, what was seen, and what to do when it is not ok."""

    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class Diagnosis:
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(f.status != "fail" for f in self.findings)

    def add(self, name: str, status: Status, detail: str, fix: str = "") -> None:
        self.findings.append(Finding(name, status, detail, fix))


def _llama_system_info() -> str:
    """llama.cpp's compiled-in features; loading the library runs no kernel, so this cannot crash on decode."""
    from llama_cpp import llama_cpp as low_level

    info = low_level.llama_print_system_info()
    return info.decode(errors="replace").strip() if isinstance(info, bytes) else str(info).strip()


def _check_build(diagnosis: Diagnosis, cpu: native.Cpu) -> native.InstalledBuild | None:
    build = native.installed_build()
    if build is None:
        diagnosis.add("llama.cpp", "fail", "llama-cpp-python is not installed",
                      "pip install 'jurist[local]' (or `make install`, which builds it for this CPU)")
        return None
    diagnosis.facts["llama.cpp build"] = {"flag_set": build.flag_set, "cmake_args": build.cmake_args,
                                          "library_digest": build.library_digest, "path": str(build.package_dir)}
    try:
        diagnosis.facts["llama.cpp system info"] = _llama_system_info()
    except Exception as error:  # a library that does not even load is itself the finding
        diagnosis.add("llama.cpp library", "fail", f"cannot load: {error}", "rebuild: `make install`")
    if build.record is None:
        diagnosis.add("llama.cpp build", "warn", "built outside jurist: its instruction sets are unknown, so "
                      "the smoke test below is the only evidence it runs here",
                      "`python -m jurist.backends.native install` builds one with flags chosen for this CPU")
    else:
        unsafe = [a for a in build.cmake_args if a.startswith("-DGGML_AMX") and a.endswith("=ON")]
        status: Status = "warn" if unsafe or "-DGGML_NATIVE=ON" in build.cmake_args else "ok"
        diagnosis.add("llama.cpp build", status, f"{build.flag_set} (CMake flags above); {len(native.flag_sets(cpu))} "
                      "flag sets run on this CPU",
                      "AMX is opt-in (JURIST_LLAMA_AMX=1) and trusted only after a smoke test" if unsafe else "")
    candidates = native.flag_sets(cpu)
    diagnosis.facts["flag sets for this CPU"] = [c.name for c in candidates]
    return build


def _check_wheels(diagnosis: Diagnosis) -> None:
    wheels = native.cache_root() / "wheels"
    records = native.known_builds(wheels)
    diagnosis.facts["wheel cache"] = [{"folder": r["folder"], "flag_set": r["flag_set"]["name"], "python": r["key"]["python"],
                                       "arch": r["key"]["arch"]} for r in records.values()]


def _check_models(diagnosis: Diagnosis, checksums: bool) -> Path | None:
    default_path = None
    for key, model in MODELS.items():
        target = cache_dir() / model.filename
        try:
            parts = part_files(model)
        except ModelUnavailable as error:
            status: Status = "fail" if key == "0.5b" else "warn"
            diagnosis.add(f"model {key}", status, str(error), f"pip install 'jurist[{model.extra}]'")
            continue
        detail = f"{len(parts)} part files installed; "
        if target.is_file():
            size = target.stat().st_size
            detail += f"assembled at {target} ({size:,} bytes)"
            if size != model.size:
                diagnosis.add(f"model {key}", "fail", detail + f", expected {model.size:,} bytes",
                              f"delete {target}; it is assembled again from the parts on next use")
                continue
            if checksums:
                digest = file_sha256(target)
                if digest != model.sha256:
                    diagnosis.add(f"model {key}", "fail", detail + f", sha256 {digest[:16]}... != {model.sha256[:16]}...",
                                  f"delete {target}; it is assembled again from the parts on next use")
                    continue
                detail += f", sha256 {digest[:16]}... ok"
        else:
            detail += "assembled on first use"
        diagnosis.add(f"model {key}", "ok", detail)
        if key == "0.5b":
            default_path = target if target.is_file() else None
    return default_path


def _check_presets(diagnosis: Diagnosis) -> None:
    """Which model and template each local preset uses, and its measured worst case."""
    from jurist.backends.presets import PRESETS

    facts = []
    for preset in {p.name: p for p in PRESETS.values()}.values():
        fact: dict[str, object] = {"preset": preset.name, "model": preset.model, "summary": preset.summary}
        if preset.head:
            fact["head"] = _head_fact(preset.head)
        if preset.template:
            fact["template"] = preset.template
        if preset.members:
            fact["jury (mean)"] = ", ".join(preset.members)
        if preset.worst_case:
            fact["pairwise worst case"] = (f"{preset.worst_case[0]:.3f} [{preset.worst_case[1]:.3f}, "
                                           f"{preset.worst_case[2]:.3f}] on {preset.worst_set}")
        facts.append(fact)
    diagnosis.facts["judge presets"] = facts


def _head_fact(name: str) -> str:
    """What a shipped head reads and decides with, from its card (or why it cannot be read)."""
    from jurist.backends.base import BackendError
    from jurist.heads import head_dir
    from jurist.learn.probe import load_probe

    try:
        card, _ = load_probe(head_dir(name))
    except BackendError as error:
        return f"{name}: cannot be read ({error})"
    neutral = ", length-neutral" if card.features.get("length_neutral") else ""
    return (f"{name}: layer {card.features.get('layer')} of {card.base['spec']} (sha256 {card.base['sha256'][:12]}...)"
            f"{neutral}, fitted on {card.data['n']} human-labelled pairs (data sha256 {card.data['sha256'][:12]}...), "
            f"probe:{card.hash[:16]}")


def _check_smoke(diagnosis: Diagnosis, cpu: native.Cpu, build: native.InstalledBuild, model: Path) -> None:
    result = native.run_smoke(sys.executable, model, build.flag_set)
    if result.ok:
        d = result.detail
        diagnosis.add("smoke test", "ok", f"{d.get('tokens')} tokens in one batch at {d.get('batch_tokens_per_s')} "
                      f"tokens/s; batched and token-by-token logits agree (r={d.get('correlation', 0):.5f})")
        native.remember_pass(build.library_digest, cpu, result, build.flag_set)
    else:
        diagnosis.add("smoke test", "fail", result.cause,
                      native.failure_message(cpu, build.flag_set, build.cmake_args, result).split("fix: ", 1)[-1])


def diagnose(smoke: bool = True, checksums: bool = True) -> Diagnosis:
    """Everything ``jurist doctor`` prints; ``smoke=False`` skips the child-process model test."""
    diagnosis = Diagnosis()
    cpu = native.detect_cpu()
    diagnosis.facts["cpu"] = {"model": cpu.model, "arch": cpu.arch,
                              "features": native.describe_cpu(cpu).partition("features: ")[2].split(),
                              "fingerprint": cpu.fingerprint}
    if {"amx_tile", "amx_int8"} <= cpu.features:
        diagnosis.add("cpu", "ok", "this CPU reports AMX: jurist builds without AMX kernels (they crashed "
                      "multi-token decoding on such VMs); JURIST_LLAMA_AMX=1 opts in, checked by the smoke test")
    diagnosis.facts["python"] = f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    diagnosis.facts["packages"] = versions
    build = _check_build(diagnosis, cpu)
    _check_wheels(diagnosis)
    model = _check_models(diagnosis, checksums)
    _check_presets(diagnosis)
    if smoke and build is not None:
        if model is None:
            try:
                from jurist.backends.models import model_path

                model = model_path()
            except ModelUnavailable as error:
                diagnosis.add("smoke test", "fail", f"no model to test with: {error}", "pip install 'jurist[local]'")
        if model is not None:
            _check_smoke(diagnosis, cpu, build, model)
    return diagnosis
