"""The native llama.cpp build behind the embedded judge: chosen, cached, checked and diagnosed.

Why this module exists: llama.cpp's default build (``GGML_NATIVE=ON``) compiles in every
instruction set the *build* machine reports, AMX included. On VMs whose CPU reports AMX,
every multi-token ``llama_decode`` of such a build crashed with SIGSEGV; and a wheel built
on one machine and cached by version alone could be reused on another that lacks its
instructions. So jurist builds llama-cpp-python itself with an explicit instruction-set
choice (a :class:`FlagSet`), caches the wheel under a key that includes those flags, checks
the installed build in a subprocess (a crash there cannot kill the caller), and walks down
to more conservative flag sets when a check fails.

This file uses the standard library only: ``make install`` runs it as a script
(``python src/jurist/backends/native.py install ...``) before jurist and its dependencies
are installed. Commands: ``install`` (build or reuse, then install the best flag set),
``check`` (smoke-test the installed build; on failure rebuild with the next flag set),
``smoke`` (the check itself, run in a child process), ``flags`` (what this CPU gets).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

LLAMA_CPP_VERSION = "0.3.36"
# Bumped when the smoke test or the key's meaning changes, so old records are not trusted.
CHECK_VERSION = 1
SMOKE_TIMEOUT_S = 300.0
# A test hook, not a user setting: a comma-separated list of flag-set names (or "all") whose
# smoke test kills itself with SIGSEGV, to exercise the crash path without a broken CPU.
FAULT_ENV = "JURIST_NATIVE_FAULT"
AMX_OPT_IN_ENV = "JURIST_LLAMA_AMX"

# Every x86 option is given explicitly, so nothing of llama.cpp's defaults (GGML_NATIVE=ON:
# -march=native, AMX included) leaks into a build.
_X86_OPTIONS = ("SSE42", "AVX", "AVX2", "BMI2", "FMA", "F16C", "AVX_VNNI", "AVX512", "AVX512_VBMI",
                "AVX512_VNNI", "AVX512_BF16", "AMX_TILE", "AMX_INT8", "AMX_BF16")
_X86_AVX2 = ("SSE42", "AVX", "AVX2", "BMI2", "FMA", "F16C")
_X86_AVX2_NEEDS = ("sse4_2", "avx", "avx2", "bmi2", "fma", "f16c")
_X86_AVX512_NEEDS = ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")
_X86_AVX512_EXTRAS = {"AVX512_VBMI": "avx512vbmi", "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16"}
_X86_AMX = {"AMX_TILE": "amx_tile", "AMX_INT8": "amx_int8", "AMX_BF16": "amx_bf16"}


def _say(message: str) -> None:
    print(message, flush=True)  # flushed: `make install` pipes it while a build runs for minutes


class NativeBuildError(RuntimeError):
    """No build of llama.cpp runs on this machine, or one could not be built."""


# -- the CPU ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cpu:
    """What decides whether a native build runs here: architecture, model name and feature flags."""

    arch: str
    model: str
    features: frozenset[str]

    @property
    def fingerprint(self) -> str:
        text = json.dumps([self.arch, self.model, sorted(self.features)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def normalise_arch(machine: str) -> str:
    machine = machine.lower()
    if machine in ("x86_64", "amd64"):
        return "x86_64"
    if machine in ("aarch64", "arm64"):
        return "aarch64"
    return machine


def detect_cpu(cpuinfo: str | None = None, machine: str | None = None) -> Cpu:
    """The CPU from ``/proc/cpuinfo`` (Linux) or ``sysctl`` (macOS); pass ``cpuinfo`` to parse a given text."""
    arch = normalise_arch(machine or platform.machine())
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    model, features = "", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not features:
            features = set(value.split())
    if not features and sys.platform == "darwin" and cpuinfo == "":
        features = _darwin_features()
        model = model or _sysctl("machdep.cpu.brand_string")
    return Cpu(arch=arch, model=model or platform.processor() or "unknown", features=frozenset(features))


def _sysctl(name: str) -> str:
    try:
        return subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _darwin_features() -> set[str]:
    """Apple silicon reports features as hw.optional.arm.FEAT_*; named here as Linux names them."""
    names = {"FEAT_DotProd": "asimddp", "FEAT_FP16": "asimdhp", "FEAT_I8MM": "i8mm"}
    return {linux for feat, linux in names.items() if _sysctl(f"hw.optional.arm.{feat}") == "1"} | {"asimd"}


# -- flag sets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagSet:
    """One explicit instruction-set choice for building llama.cpp, and the CPU features it needs."""

    name: str
    cmake_args: tuple[str, ...]
    needs: tuple[str, ...] = ()
    description: str = ""

    def runs_on(self, cpu: Cpu) -> bool:
        return all(feature in cpu.features for feature in self.needs)

    @property
    def digest(self) -> str:
        return hashlib.sha256(" ".join(self.cmake_args).encode()).hexdigest()[:12]


def _x86(name: str, enabled: Sequence[str], needs: Sequence[str], description: str) -> FlagSet:
    args = ["-DGGML_NATIVE=OFF"] + [f"-DGGML_{option}={'ON' if option in enabled else 'OFF'}"
                                     for option in _X86_OPTIONS]
    return FlagSet(name, tuple(args), tuple(needs), description)


def flag_sets(cpu: Cpu, allow_amx: bool | None = None) -> list[FlagSet]:
    """The flag sets to try on ``cpu``, fastest first, each needing only features the CPU reports.

    x86-64: AVX-512 (with the VBMI/VNNI/BF16 extensions the CPU has), then AVX2 (x86-64-v3),
    then the x86-64 baseline (SSE2). AMX only when ``JURIST_LLAMA_AMX=1`` asks for it, and
    then only if the smoke test proves it works. aarch64: ARMv8.2 with dot product and FP16,
    then ARMv8-A. Other architectures: llama.cpp's portable default (``GGML_NATIVE=OFF``).
    """
    if allow_amx is None:
        allow_amx = os.environ.get(AMX_OPT_IN_ENV) == "1"
    candidates: list[FlagSet] = []
    if cpu.arch == "x86_64":
        extras = [option for option, feature in _X86_AVX512_EXTRAS.items() if feature in cpu.features]
        avx512 = [*_X86_AVX2, "AVX512", *extras]
        avx512_needs = [*_X86_AVX2_NEEDS, *_X86_AVX512_NEEDS, *(_X86_AVX512_EXTRAS[o] for o in extras)]
        if allow_amx:
            amx = [option for option, feature in _X86_AMX.items() if feature in cpu.features]
            candidates.append(_x86("x86-64-amx", avx512 + amx, avx512_needs + [_X86_AMX[o] for o in amx],
                                   "AVX-512 and AMX (opt-in: JURIST_LLAMA_AMX=1)"))
        candidates += [
            _x86("x86-64-avx512", avx512, avx512_needs, "AVX-512 (" + ", ".join(["F/CD/VL/DQ/BW", *extras]) + ")"),
            _x86("x86-64-avx2", _X86_AVX2, _X86_AVX2_NEEDS, "AVX2, FMA, F16C, BMI2 (x86-64-v3)"),
            _x86("x86-64-baseline", (), (), "no SIMD beyond the x86-64 baseline (SSE2)"),
        ]
    elif cpu.arch == "aarch64":
        candidates += [
            FlagSet("armv8.2-dotprod-fp16", ("-DGGML_NATIVE=OFF", "-DGGML_CPU_ARM_ARCH=armv8.2-a+dotprod+fp16"),
                    ("asimddp", "asimdhp"), "ARMv8.2-A with dot product and FP16"),
            FlagSet("armv8-baseline", ("-DGGML_NATIVE=OFF", "-DGGML_CPU_ARM_ARCH=armv8-a"), (), "ARMv8-A baseline"),
        ]
    else:
        candidates.append(FlagSet(f"{cpu.arch}-portable", ("-DGGML_NATIVE=OFF",), (),
                                  "llama.cpp's portable default for this architecture"))
    return [c for c in candidates if c.runs_on(cpu)]


def flag_set_named(name: str, cpu: Cpu) -> FlagSet:
    for candidate in flag_sets(cpu, allow_amx=True):
        if candidate.name == name:
            return candidate
    known = ", ".join(c.name for c in flag_sets(cpu, allow_amx=True))
    raise NativeBuildError(f"flag set {name!r} does not run on this CPU ({cpu.arch}); choose one of: {known}")


# -- the wheel cache -------------------------------------------------------------------------


def cache_root() -> Path:
    """``JURIST_CACHE_DIR`` or the platform's user cache (as ``platformdirs`` gives it on Linux/macOS)."""
    if os.environ.get("JURIST_CACHE_DIR"):
        return Path(os.environ["JURIST_CACHE_DIR"])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "jurist"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jurist"


def _compiler() -> str:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or "cc"
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
        return out.splitlines()[0].strip() if out else compiler
    except (OSError, subprocess.SubprocessError):
        return compiler


@dataclass(frozen=True)
class BuildKey:
    """Everything that decides whether a built wheel runs here; its digest names the cache folder."""

    package_version: str
    flag_set: str
    cmake_args: tuple[str, ...]
    arch: str
    python: str
    libc: str
    compiler: str

    @classmethod
    def for_here(cls, flags: FlagSet, version: str = LLAMA_CPP_VERSION) -> BuildKey:
        libc = "-".join(platform.libc_ver()) or sys.platform
        return cls(version, flags.name, flags.cmake_args, normalise_arch(platform.machine()),
                   f"cp{sys.version_info.major}{sys.version_info.minor}", libc, _compiler())

    @property
    def folder(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]
        return f"llama-cpp-python-{self.package_version}-{self.python}-{self.arch}-{self.flag_set}-{digest}"


def wheel_dir(wheels: Path, key: BuildKey) -> Path:
    return wheels / key.folder


def cached_wheel(wheels: Path, key: BuildKey) -> Path | None:
    """The wheel built under exactly ``key``, or None: a wheel under any other key is never returned."""
    folder = wheel_dir(wheels, key)
    try:
        record = json.loads((folder / "build.json").read_text())
    except (OSError, ValueError):
        return None
    if record.get("key") != json.loads(json.dumps(asdict(key))):
        return None
    wheel = folder / str(record.get("wheel", ""))
    return wheel if wheel.is_file() and wheel.suffix == ".whl" else None


def native_library_digest(files: Sequence[tuple[str, bytes]] | None = None, package_dir: Path | None = None) -> str:
    """SHA-256 over the shared libraries of llama-cpp-python, from a wheel's members or an install."""
    digest = hashlib.sha256()
    if files is None:
        if package_dir is None:
            raise ValueError("pass files or package_dir")
        files = [(p.name, p.read_bytes()) for p in sorted(package_dir.rglob("*"))
                 if p.is_file() and (".so" in p.suffixes or p.suffix in (".dylib", ".dll"))]
    for name, data in sorted(files):
        digest.update(Path(name).name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


def _wheel_library_digest(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        members = [(n, archive.read(n)) for n in archive.namelist()
                   if n.startswith("llama_cpp/") and (".so" in Path(n).suffixes or n.endswith((".dylib", ".dll")))]
    return native_library_digest(members)


def sdist_path(wheels: Path, version: str, pip: Sequence[str]) -> Path:
    """The llama-cpp-python source distribution, downloaded once from PyPI into the cache."""
    folder = wheels / "sdist"
    found = sorted(folder.glob(f"llama_cpp_python-{version}.tar.gz"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([*pip, "download", "--quiet", "--no-deps", "--no-binary", ":all:", "--dest", str(folder),
                    f"llama-cpp-python=={version}"], check=True)
    found = sorted(folder.glob(f"llama_cpp_python-{version}.tar.gz"))
    if not found:
        raise NativeBuildError(f"pip download gave no llama_cpp_python-{version}.tar.gz in {folder}")
    return found[0]


def build_wheel(wheels: Path, flags: FlagSet, pip: Sequence[str], version: str = LLAMA_CPP_VERSION,
                log: Callable[[str], None] | None = None) -> Path:
    """Build llama-cpp-python with ``flags`` (or reuse the wheel cached under the same key)."""
    log = log or _say
    key = BuildKey.for_here(flags, version)
    if (wheel := cached_wheel(wheels, key)) is not None:
        log(f"jurist: reusing llama-cpp-python {version} built for {flags.name} ({wheel.parent.name})")
        return wheel
    source = sdist_path(wheels, version, pip)
    log(f"jurist: building llama-cpp-python {version} for {flags.name}: {flags.description}\n"
        f"        CMAKE_ARGS={' '.join(flags.cmake_args)}\n"
        f"        (several minutes on 2 cores; the wheel is cached in {wheels})")
    folder = wheel_dir(wheels, key)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=wheels, prefix=".building-") as scratch:
        env = dict(os.environ, CMAKE_ARGS=" ".join(flags.cmake_args))
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        # --no-cache-dir: pip's own wheel cache is keyed by the source, not by CMAKE_ARGS.
        subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "--no-cache-dir", "--wheel-dir", scratch,
                        str(source)], check=True, env=env)
        built = sorted(Path(scratch).glob("llama_cpp_python-*.whl"))
        if not built:
            raise NativeBuildError(f"pip wheel produced no wheel for {flags.name}")
        staging = Path(scratch) / "out"
        staging.mkdir()
        shutil.move(str(built[0]), staging / built[0].name)
        record = {"key": asdict(key), "wheel": built[0].name, "flag_set": asdict(flags),
                  "library_digest": _wheel_library_digest(staging / built[0].name),
                  "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "build_seconds": round(time.monotonic() - started, 1)}
        (staging / "build.json").write_text(json.dumps(record, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)  # atomic: a crash mid-build never leaves a half-cached wheel
    log(f"jurist: built in {time.monotonic() - started:.0f} s")
    return folder / built[0].name


def known_builds(wheels: Path | None = None) -> dict[str, dict]:
    """Build records of the cached wheels, by the digest of their native libraries."""
    wheels = wheels or cache_root() / "wheels"
    records: dict[str, dict] = {}
    for path in sorted(wheels.glob("*/build.json")):
        try:
            record = json.loads(path.read_text())
            records[record["library_digest"]] = {**record, "folder": str(path.parent)}
        except (OSError, ValueError, KeyError):
            continue
    return records


# -- what is installed -----------------------------------------------------------------------


def installed_package_dir() -> Path | None:
    """llama_cpp's folder, found without importing it (importing loads the native libraries)."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass
class InstalledBuild:
    """The llama-cpp-python build installed here: its libraries' digest and, when jurist built it, its flags."""

    package_dir: Path
    library_digest: str
    record: dict | None = None

    @property
    def flag_set(self) -> str:
        return self.record["flag_set"]["name"] if self.record else "unknown (not built by jurist)"

    @property
    def cmake_args(self) -> list[str]:
        return list(self.record["flag_set"]["cmake_args"]) if self.record else []


def installed_build(wheels: Path | None = None) -> InstalledBuild | None:
    package_dir = installed_package_dir()
    if package_dir is None:
        return None
    digest = native_library_digest(package_dir=package_dir)
    return InstalledBuild(package_dir, digest, known_builds(wheels).get(digest))


def build_facts() -> dict[str, object]:
    """The installed build and the CPU, for benchmark records and run environments."""
    build, cpu = installed_build(), detect_cpu()
    return {"flag_set": build.flag_set if build else None, "cmake_args": build.cmake_args if build else [],
            "library_digest": build.library_digest if build else None,
            "cpu": {"model": cpu.model, "arch": cpu.arch, "fingerprint": cpu.fingerprint}}


# -- the smoke test --------------------------------------------------------------------------

SMOKE_TEXT = ("You are a careful judge. Compare the two answers to the question and say which is better.\n"
              "Question: What is the boiling point of water at sea level, in degrees Celsius?\n"
              "Answer A: 100 degrees Celsius.\nAnswer B: About 50 degrees.\nThe better answer is")


def smoke(model: Path, flag_set: str = "") -> dict:
    """Load ``model`` and evaluate a multi-token batch; compare with one-token-at-a-time evaluation.

    Runs in a child process (``python -m jurist.backends.native smoke``): a build with
    instructions this CPU cannot run dies here with SIGSEGV/SIGILL, not in the caller.
    Batched and token-by-token evaluation take different kernels (AMX and the repacked
    matrix paths are batch-only), so agreement between them checks the batch kernels' output too.
    """
    fault = os.environ.get(FAULT_ENV, "")
    if fault and (fault == "all" or flag_set in fault.split(",")):
        os.kill(os.getpid(), signal.SIGSEGV)
    import numpy as np
    from llama_cpp import Llama
    from llama_cpp import llama_cpp as low_level

    started = time.perf_counter()
    llm = Llama(model_path=str(model), n_ctx=256, n_batch=64, n_ubatch=64, logits_all=False, verbose=False, seed=0)
    loaded = time.perf_counter()
    tokens = llm.tokenize(SMOKE_TEXT.encode(), add_bos=True)

    def last_logits() -> np.ndarray:
        pointer = low_level.llama_get_logits_ith(llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).astype(np.float64).copy()

    llm.eval(tokens)  # one batch of len(tokens) > 1 tokens
    batched = last_logits()
    evaluated = time.perf_counter()
    llm.reset()
    llm._ctx.kv_cache_clear()
    for token in tokens:
        llm.eval([token])
    single = last_logits()
    llm.close()
    finite = bool(np.isfinite(batched).all() and np.isfinite(single).all())
    correlation = float(np.corrcoef(batched, single)[0, 1]) if finite else float("nan")
    ok = finite and int(batched.argmax()) == int(single.argmax()) and correlation > 0.99
    return {"ok": ok, "tokens": len(tokens), "finite": finite, "argmax_equal": int(batched.argmax()) == int(single.argmax()),
            "correlation": correlation, "load_s": round(loaded - started, 3),
            "batch_tokens_per_s": round(len(tokens) / max(evaluated - loaded, 1e-9), 1)}


@dataclass
class SmokeResult:
    ok: bool
    returncode: int | None
    detail: dict = field(default_factory=dict)
    output: str = ""

    @property
    def cause(self) -> str:
        if self.ok:
            return "ok"
        if self.returncode is not None and self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"the child process died with {name}"
        if self.returncode is None:
            return f"the smoke test did not finish in {SMOKE_TIMEOUT_S:.0f} s"
        if self.detail:
            return f"the batched and token-by-token logits disagree ({self.detail})"
        tail = self.output.strip().splitlines()[-1:] or ["no output"]
        return f"the smoke test exited with status {self.returncode}: {tail[0]}"


def run_smoke(python: str, model: Path, flag_set: str = "", timeout: float = SMOKE_TIMEOUT_S) -> SmokeResult:
    """The smoke test in a child process; a crash there becomes a result, never a crash here."""
    command = [python, "-c", "from jurist.backends.native import main; main()", "smoke", "--model", str(model),
               "--flag-set", flag_set]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as timeout_error:
        return SmokeResult(False, None, output=str(timeout_error.stderr or ""))
    detail: dict = {}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            try:
                detail = json.loads(line)
            except ValueError:
                pass
            break
    return SmokeResult(done.returncode == 0 and bool(detail.get("ok")), done.returncode, detail,
                       (done.stdout + done.stderr)[-4000:])


# -- remembered checks -----------------------------------------------------------------------


def check_record_path(library_digest: str, cpu: Cpu) -> Path:
    return cache_root() / "native-checks" / f"v{CHECK_VERSION}-{library_digest}-{cpu.fingerprint}.json"


def remember_pass(library_digest: str, cpu: Cpu, result: SmokeResult, flag_set: str) -> None:
    path = check_record_path(library_digest, cpu)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"flag_set": flag_set, "cpu_model": cpu.model, "arch": cpu.arch,
                                     "detail": result.detail, "checked_at": time.time()}))
    os.replace(temporary, path)


def _failure_path(key: BuildKey, cpu: Cpu) -> Path:
    return cache_root() / "native-checks" / f"v{CHECK_VERSION}-failed-{key.folder}-{cpu.fingerprint}.json"


def remember_failure(key: BuildKey, cpu: Cpu, result: SmokeResult) -> None:
    """A build that failed here is skipped by later installs on this CPU (delete the record to retry)."""
    path = _failure_path(key, cpu)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cause": result.cause, "returncode": result.returncode, "checked_at": time.time()}))


def known_failure(key: BuildKey, cpu: Cpu) -> bool:
    return _failure_path(key, cpu).exists()


_checked_here: set[str] = set()


def ensure_runs_here(model: Path) -> None:
    """Before the first in-process evaluation: prove the installed build runs on this CPU.

    The smoke test runs in a child process once per (native libraries, CPU); a pass is
    remembered in the cache. A crash there raises :class:`NativeBuildError` naming the cause,
    the CPU features and the build flags, instead of killing the caller on its first decode.
    """
    build = installed_build()
    if build is None:
        return  # llama-cpp-python is missing: the backend says so when it imports it
    cpu = detect_cpu()
    record = check_record_path(build.library_digest, cpu)
    if record.name in _checked_here or record.exists():
        _checked_here.add(record.name)
        return
    result = run_smoke(sys.executable, model, build.flag_set)
    if not result.ok:
        raise NativeBuildError(failure_message(cpu, build.flag_set, build.cmake_args, result))
    remember_pass(build.library_digest, cpu, result, build.flag_set)
    _checked_here.add(record.name)


def describe_cpu(cpu: Cpu) -> str:
    """The CPU and the features that decide which flag sets run on it, for error messages."""
    notable = sorted(f for f in cpu.features if f.startswith(("avx", "amx", "fma", "f16c", "bmi", "sse4", "asimd",
                                                              "sve", "i8mm")))
    return f"{cpu.model} ({cpu.arch}); features: {' '.join(notable) or 'none reported'}"


def failure_message(cpu: Cpu, flag_set: str, cmake_args: Sequence[str], result: SmokeResult) -> str:
    return (f"the embedded judge's native build does not run on this CPU: {result.cause}.\n"
            f"  CPU: {describe_cpu(cpu)}\n"
            f"  build: {flag_set}; flags: {' '.join(cmake_args) or 'unknown'}\n"
            "  fix: rebuild with a conservative flag set, e.g. `make install` (it checks each build and falls "
            "back), or `python -m jurist.backends.native install --flag-set x86-64-avx2` (see `jurist doctor`); "
            "or judge through a server (judge spec http://HOST/v1)")


# -- install and check with fallback ---------------------------------------------------------


@dataclass
class Attempt:
    flag_set: str
    result: SmokeResult


def install_checked(candidates: Sequence[FlagSet], build: Callable[[FlagSet], Path],
                    install: Callable[[Path], None], check: Callable[[FlagSet], SmokeResult],
                    log: Callable[[str], None] | None = None) -> tuple[FlagSet, list[Attempt]]:
    """Build, install and smoke-test each candidate in turn until one passes.

    Says which failed and why; raises :class:`NativeBuildError` naming every attempt when none works.
    """
    log = log or _say
    attempts: list[Attempt] = []
    for flags in candidates:
        install(build(flags))
        result = check(flags)
        attempts.append(Attempt(flags.name, result))
        if result.ok:
            if len(attempts) > 1:
                log(f"jurist: using {flags.name} after " + "; ".join(
                    f"{a.flag_set} failed ({a.result.cause})" for a in attempts[:-1]))
            return flags, attempts
        log(f"jurist: the {flags.name} build failed its smoke test: {result.cause}; trying the next flag set")
    flags_of = {flags.name: " ".join(flags.cmake_args) for flags in candidates}
    tried = "".join(f"\n  {a.flag_set}: {a.result.cause}\n    flags: {flags_of[a.flag_set]}" for a in attempts)
    raise NativeBuildError(f"no build of llama.cpp passed the smoke test here:{tried or ' no flag set runs here'}")


# -- command line (make install) -------------------------------------------------------------


def _pip(python: str) -> list[str]:
    return [python, "-m", "pip"]


def _install_wheel(python: str, wheel: Path) -> None:
    subprocess.run([*_pip(python), "install", "--quiet", "--force-reinstall", "--no-deps", str(wheel)], check=True)


def _installed_python_check(python: str, flags: FlagSet) -> SmokeResult:
    model = subprocess.run([python, "-c", "from jurist.backends.models import model_path; print(model_path())"],
                           capture_output=True, text=True)
    if model.returncode != 0:
        raise NativeBuildError(f"cannot find the embedded model for the smoke test: {model.stderr.strip()[-500:]}")
    return run_smoke(python, Path(model.stdout.strip()), flags.name)


def _candidates(args: argparse.Namespace, cpu: Cpu) -> list[FlagSet]:
    if args.flag_set:
        return [flag_set_named(args.flag_set, cpu)]
    candidates = flag_sets(cpu)
    if not candidates:
        raise NativeBuildError(f"no known flag set runs on this CPU ({cpu.arch}: {cpu.model})")
    return candidates


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="jurist.backends.native", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("install", "check"):
        command = sub.add_parser(name)
        command.add_argument("--wheels", type=Path, default=cache_root() / "wheels")
        command.add_argument("--version", default=LLAMA_CPP_VERSION)
        command.add_argument("--python", default=sys.executable, help="the virtualenv's python")
        command.add_argument("--flag-set", default="", help="build only this flag set")
    smoke_command = sub.add_parser("smoke")
    smoke_command.add_argument("--model", type=Path, required=True)
    smoke_command.add_argument("--flag-set", default="")
    sub.add_parser("flags")
    args = parser.parse_args(argv)
    cpu = detect_cpu()

    if args.command == "smoke":
        print(json.dumps(smoke(args.model, args.flag_set)))
        return
    if args.command == "flags":
        for flags in flag_sets(cpu):
            print(f"{flags.name}: {flags.description}\n  {' '.join(flags.cmake_args)}")
        return
    args.wheels.mkdir(parents=True, exist_ok=True)
    pip = _pip(args.python)
    try:
        candidates = _candidates(args, cpu)
        if args.command == "install":
            # Installs the first candidate not known to fail here, so that `pip install jurist[local]`
            # finds llama-cpp-python satisfied; `check` (after jurist is installed) proves it runs.
            usable = [c for c in candidates if not known_failure(BuildKey.for_here(c, args.version), cpu)]
            _install_wheel(args.python, build_wheel(args.wheels, (usable or candidates)[0], pip, args.version))
            return
        current = installed_build(args.wheels)
        start = next((i for i, c in enumerate(candidates) if current and c.name == current.flag_set), 0)

        def install(wheel: Path) -> None:
            wanted = json.loads((wheel.parent / "build.json").read_text())["library_digest"]
            now = installed_build(args.wheels)
            if now is None or now.library_digest != wanted:
                _install_wheel(args.python, wheel)

        def check(flags: FlagSet) -> SmokeResult:
            result = _installed_python_check(args.python, flags)
            built = installed_build(args.wheels)
            if result.ok and built is not None:
                remember_pass(built.library_digest, cpu, result, flags.name)
            elif not result.ok:
                remember_failure(BuildKey.for_here(flags, args.version), cpu, result)
            return result

        chosen, attempts = install_checked(candidates[start:], lambda f: build_wheel(args.wheels, f, pip, args.version),
                                           install, check)
        detail = attempts[-1].result.detail
        print(f"jurist: llama.cpp build {chosen.name} passed the smoke test on {cpu.model} "
              f"({detail.get('tokens')} tokens in one batch, {detail.get('batch_tokens_per_s')} tokens/s)")
    except NativeBuildError as error:
        print(f"jurist: {error}\n  CPU: {describe_cpu(cpu)}\n  the embedded judge cannot run here; judge through a "
              "server instead (judge spec http://HOST/v1), and see `jurist doctor`", file=sys.stderr)
        raise SystemExit(2) from None
    except subprocess.CalledProcessError as error:
        print(f"jurist: {' '.join(map(str, error.cmd[:4]))} ... failed with status {error.returncode}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
