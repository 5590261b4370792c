"""The native llama.cpp build: flag sets per CPU, the keyed wheel cache, the checked install and the runtime check."""

from __future__ import annotations

import json
import re
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

from jurist.backends import native
from jurist.backends.native import BuildKey, FlagSet, NativeBuildError, SmokeResult

REPO = Path(__file__).resolve().parent.parent

AMX_XEON = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c bmi1 avx2 bmi2 avx512f avx512dq avx512cd avx512bw avx512vl avx512vbmi avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
HASWELL = "model name\t: Intel(R) Core(TM) i7-4770\nflags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c bmi1 avx2 bmi2\n"
OLD_X86 = "model name\t: QEMU Virtual CPU\nflags\t\t: fpu sse sse2\n"
GRAVITON = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp asimddp\n"
RPI3 = "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"


def names(cpu: native.Cpu, **kwargs) -> list[str]:
    return [f.name for f in native.flag_sets(cpu, **kwargs)]


def test_flag_sets_follow_the_cpu_and_never_include_amx_unasked():
    amx = native.detect_cpu(AMX_XEON, "x86_64")
    assert {"amx_tile", "amx_int8", "avx512f"} <= amx.features and amx.model.startswith("Intel")
    assert names(amx, allow_amx=False) == ["x86-64-avx512", "x86-64-avx2", "x86-64-baseline"]
    for flags in native.flag_sets(amx, allow_amx=False):
        assert "-DGGML_NATIVE=OFF" in flags.cmake_args  # never -march=native
        assert not [a for a in flags.cmake_args if a.startswith("-DGGML_AMX") and a.endswith("=ON")]
    # AMX only when asked for, and then first (it is still smoke-tested before use)
    assert names(amx, allow_amx=True)[0] == "x86-64-amx"
    assert "-DGGML_AMX_INT8=ON" in native.flag_sets(amx, allow_amx=True)[0].cmake_args
    # the AVX-512 set carries exactly the extensions this CPU reports
    avx512 = native.flag_sets(amx, allow_amx=False)[0]
    assert "-DGGML_AVX512_VNNI=ON" in avx512.cmake_args and "-DGGML_AVX512_BF16=ON" in avx512.cmake_args

    assert names(native.detect_cpu(HASWELL, "x86_64"), allow_amx=False) == ["x86-64-avx2", "x86-64-baseline"]
    assert names(native.detect_cpu(OLD_X86, "x86_64"), allow_amx=True) == ["x86-64-baseline"]
    assert names(native.detect_cpu(GRAVITON, "aarch64")) == ["armv8.2-dotprod-fp16", "armv8-baseline"]
    assert names(native.detect_cpu(RPI3, "arm64")) == ["armv8-baseline"]
    assert names(native.detect_cpu("", "riscv64")) == ["riscv64-portable"]
    with pytest.raises(NativeBuildError, match="x86-64-avx2"):
        native.flag_set_named("x86-64-avx512", native.detect_cpu(HASWELL, "x86_64"))


def test_the_cpu_fingerprint_changes_with_the_features():
    assert native.detect_cpu(AMX_XEON, "x86_64").fingerprint != native.detect_cpu(HASWELL, "x86_64").fingerprint
    assert native.detect_cpu(HASWELL, "x86_64").fingerprint == native.detect_cpu(HASWELL, "x86_64").fingerprint


FAKE_PIP = textwrap.dedent("""
    import io, json, os, sys, tarfile, zipfile
    from pathlib import Path
    args = sys.argv[1:]
    log = Path(os.environ["FAKE_PIP_LOG"])
    log.write_text(log.read_text() + json.dumps({"args": args, "cmake": os.environ.get("CMAKE_ARGS")}) + "\\n"
                   if log.exists() else json.dumps({"args": args, "cmake": os.environ.get("CMAKE_ARGS")}) + "\\n")
    if args[0] == "download":
        dest = Path(args[args.index("--dest") + 1])
        with tarfile.open(dest / "llama_cpp_python-0.3.36.tar.gz", "w:gz") as tar:
            data = b"source"
            info = tarfile.TarInfo("llama_cpp_python-0.3.36/setup.py"); info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    elif args[0] == "wheel":
        out = Path(args[args.index("--wheel-dir") + 1])
        with zipfile.ZipFile(out / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl", "w") as wheel:
            wheel.writestr("llama_cpp/lib/libggml-cpu.so", os.environ.get("CMAKE_ARGS", ""))
            wheel.writestr("llama_cpp/__init__.py", "")
""")


@pytest.fixture
def fake_pip(tmp_path, monkeypatch):
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP)
    log = tmp_path / "pip.log"
    monkeypatch.setenv("FAKE_PIP_LOG", str(log))

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return [sys.executable, str(script)], calls


def test_a_wheel_cached_under_other_flags_is_never_reused(tmp_path, fake_pip):
    pip, calls = fake_pip
    wheels = tmp_path / "wheels"
    cpu = native.detect_cpu(AMX_XEON, "x86_64")
    avx512, avx2, _ = native.flag_sets(cpu, allow_amx=False)
    # a wheel from the old version-only cache sits at the top of the folder: never a candidate
    wheels.mkdir()
    (wheels / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl").write_bytes(b"old native build")

    first = native.build_wheel(wheels, avx512, pip, log=lambda m: None)
    assert [c["args"][0] for c in calls()] == ["download", "wheel"]
    assert calls()[1]["cmake"] == " ".join(avx512.cmake_args) and "--no-cache-dir" in calls()[1]["args"]
    assert native.build_wheel(wheels, avx512, pip, log=lambda m: None) == first  # same key: reused
    assert len(calls()) == 2

    second = native.build_wheel(wheels, avx2, pip, log=lambda m: None)  # other flags: built anew
    assert second != first and second.parent != first.parent
    assert [c["args"][0] for c in calls()] == ["download", "wheel", "wheel"]  # the source is downloaded once
    assert calls()[2]["cmake"] == " ".join(avx2.cmake_args)
    with zipfile.ZipFile(second) as archive:
        assert "-DGGML_AVX512=OFF" in archive.read("llama_cpp/lib/libggml-cpu.so").decode()

    key = BuildKey.for_here(avx2)
    assert native.cached_wheel(wheels, key) == second
    # anything else that decides whether a wheel runs here changes the key: another Python, arch or compiler
    for change in ({"python": "cp312"}, {"arch": "aarch64"}, {"compiler": "clang 18"}, {"package_version": "0.3.37"}):
        other = BuildKey(**{**key.__dict__, **change})
        assert other.folder != key.folder and native.cached_wheel(wheels, other) is None
    # a record whose key does not match its folder (copied from elsewhere) is not trusted
    record = json.loads((second.parent / "build.json").read_text())
    record["key"]["cmake_args"] = list(avx512.cmake_args)
    (second.parent / "build.json").write_text(json.dumps(record))
    assert native.cached_wheel(wheels, key) is None
    # the build records map an installed library back to its flags
    assert any(r["flag_set"]["name"] == "x86-64-avx512" for r in native.known_builds(wheels).values())


def _result(ok: bool, code: int | None = 0) -> SmokeResult:
    return SmokeResult(ok, code, {"ok": ok, "tokens": 40} if code == 0 else {})


def test_the_install_falls_back_to_the_next_flag_set_when_the_smoke_test_fails():
    cpu = native.detect_cpu(AMX_XEON, "x86_64")
    candidates = native.flag_sets(cpu, allow_amx=True)
    built, installed, said = [], [], []
    outcome = {"x86-64-amx": _result(False, -11), "x86-64-avx512": _result(False, -4), "x86-64-avx2": _result(True)}

    chosen, attempts = native.install_checked(
        candidates, build=lambda f: (built.append(f.name), Path(f"/cache/{f.name}.whl"))[1],
        install=lambda wheel: installed.append(wheel.name), check=lambda f: outcome[f.name], log=said.append)
    assert chosen.name == "x86-64-avx2"
    assert built == ["x86-64-amx", "x86-64-avx512", "x86-64-avx2"]  # the baseline was not needed
    assert installed == ["x86-64-amx.whl", "x86-64-avx512.whl", "x86-64-avx2.whl"]
    assert [a.flag_set for a in attempts] == built
    assert "SIGSEGV" in said[0] and "SIGILL" in said[1]
    assert said[-1].startswith("jurist: using x86-64-avx2 after x86-64-amx failed")


def test_when_every_flag_set_fails_the_error_names_each_and_why():
    candidates = native.flag_sets(native.detect_cpu(HASWELL, "x86_64"), allow_amx=False)
    with pytest.raises(NativeBuildError) as caught:
        native.install_checked(candidates, build=lambda f: Path("x.whl"), install=lambda w: None,
                               check=lambda f: _result(False, -11 if f.name.endswith("avx2") else 1),
                               log=lambda m: None)
    message = str(caught.value)
    assert "x86-64-avx2: the child process died with SIGSEGV" in message
    assert "x86-64-baseline: the smoke test exited with status 1" in message
    assert "flags: -DGGML_NATIVE=OFF -DGGML_SSE42=ON" in message  # the failing flags, set by set
    assert "features: avx avx2 bmi1 bmi2 f16c fma" in native.describe_cpu(native.detect_cpu(HASWELL, "x86_64"))


@pytest.fixture
def fresh_checks(tmp_path, monkeypatch):
    """An empty check record cache (models stay where they are: their path is passed explicitly)."""
    from jurist.backends.models import model_path

    path = model_path()
    monkeypatch.setenv("JURIST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(native, "_checked_here", set())
    return path


@pytest.mark.model
def test_a_crash_in_the_smoke_test_becomes_a_backend_error_not_a_dead_process(fresh_checks, monkeypatch):
    from jurist.backends.base import BackendError
    from jurist.backends.embedded import EmbeddedBackend

    monkeypatch.setenv(native.FAULT_ENV, "all")  # the child kills itself with SIGSEGV, as an AMX build did
    with pytest.raises(BackendError) as caught:
        EmbeddedBackend(fresh_checks)
    message = str(caught.value)
    assert "died with SIGSEGV" in message
    assert native.detect_cpu().arch in message and "flags:" in message and "fix:" in message
    assert not list((Path(native.cache_root()) / "native-checks").glob("*.json"))  # a failure is not remembered


@pytest.mark.model
def test_the_smoke_test_passes_once_and_is_remembered_per_build_and_cpu(fresh_checks, monkeypatch):
    result = native.run_smoke(sys.executable, fresh_checks)
    assert result.ok, result.cause
    assert result.detail["tokens"] > 8 and result.detail["correlation"] > 0.99 and result.detail["argmax_equal"]

    native.ensure_runs_here(fresh_checks)  # runs the check in a child process and records the pass
    build = native.installed_build()
    assert build is not None
    assert native.check_record_path(build.library_digest, native.detect_cpu()).is_file()
    monkeypatch.setattr(native, "_checked_here", set())

    def must_not_run(*args, **kwargs):
        raise AssertionError("the check ran again for the same build and CPU")

    monkeypatch.setattr(native, "run_smoke", must_not_run)
    native.ensure_runs_here(fresh_checks)


def test_the_installed_build_is_the_one_make_install_chose():
    build = native.installed_build()
    assert build is not None and build.record is not None, "llama-cpp-python was not built by jurist's installer"
    assert build.flag_set in [f.name for f in native.flag_sets(native.detect_cpu(), allow_amx=True)]
    assert "-DGGML_NATIVE=OFF" in build.cmake_args


def test_the_build_script_pins_the_same_version_as_the_package():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["local"]
    pinned = next(re.search(r"==([\d.]+)", d).group(1) for d in extras if d.startswith("llama-cpp-python"))
    assert pinned == native.LLAMA_CPP_VERSION


def test_doctor_reports_cpu_build_and_models_as_json():
    from typer.testing import CliRunner

    from jurist.cli import app

    result = CliRunner().invoke(app, ["doctor", "--json", "--no-smoke", "--no-checksums"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["facts"]["cpu"]["arch"] == native.detect_cpu().arch
    assert "-DGGML_NATIVE=OFF" in report["facts"]["llama.cpp build"]["cmake_args"]
    assert "AVX" in report["facts"]["llama.cpp system info"] or "NEON" in report["facts"]["llama.cpp system info"]
    assert {f["name"] for f in report["findings"]} >= {"llama.cpp build", "model 0.5b"}
    heads = {f["preset"]: f.get("head") for f in report["facts"]["judge presets"]}
    assert heads["local:head"].startswith("pairwise-0.5b: layer 23 of local") and "length-neutral" in heads["local:head"]
