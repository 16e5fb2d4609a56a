"""The C++ core's GoogleTest unit tests (tests/cc/*_test.cc), in the default
pytest run.

Each test file is compiled with the system C++ compiler (``$CXX`` or g++)
against the system GoogleTest (Debian: ``apt-get install libgtest-dev``),
with AddressSanitizer and UndefinedBehaviorSanitizer when the compiler can
link them, and then run; a failing C++ test fails its pytest test, with the
GoogleTest output in the report. ``bazel test //...`` runs the same files.

Binaries are cached (``$TF_MLM_CACHE_DIR``, default ``~/.cache/tf_mlm``,
under ``cc_tests/``; tests/_build_cache.py) by a hash of the compiler, the
flags and every file in cc/core and tests/cc, so only a change to those
recompiles.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import _build_cache

# Multi-process, compiler or sanitizer work: the main CI job runs these;
# the Bazel and TensorFlow-matrix jobs deselect them (-m 'not slow').
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CC_TESTS = ROOT / "tests" / "cc"
TEST_SOURCES = sorted(CC_TESTS.glob("*_test.cc"))
BASE_FLAGS = ["-std=c++17", "-O1", "-Wall", "-Wextra", f"-I{ROOT}"]
SANITIZE_FLAGS = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]
LIBS = ["-lgtest", "-lgtest_main", "-pthread"]


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _compiles(cxx: str, source: str, flags, libs=()) -> bool:
    with tempfile.TemporaryDirectory(prefix="tf_mlm_probe_") as tmp:
        src = Path(tmp) / "probe.cc"
        src.write_text(source)
        return _run([cxx, *flags, str(src), *libs, "-o", str(Path(tmp) / "probe")]).returncode == 0


_GTEST_PROBE = """#include <gtest/gtest.h>
TEST(Probe, Ok) { EXPECT_EQ(1, 1); }
"""


def _key(cxx: str, flags) -> str:
    h = hashlib.sha256()
    h.update(_run([cxx, "--version"]).stdout.encode())
    h.update(repr(flags).encode())
    for path in sorted(list((ROOT / "cc" / "core").glob("*")) + list(CC_TESTS.glob("*"))):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _choose_flags(cxx: str) -> list:
    """Flags for this compiler, or pytest.skip when GoogleTest is missing.

    One probe on the usual path (sanitizers + gtest link); more only to
    explain a failure or to fall back to a build without sanitizers.
    """
    want_sanitizers = os.environ.get("TF_MLM_CC_TESTS_NO_SANITIZERS") != "1"
    if want_sanitizers and _compiles(cxx, _GTEST_PROBE, ["-std=c++17", *SANITIZE_FLAGS], LIBS):
        return BASE_FLAGS + SANITIZE_FLAGS
    if _compiles(cxx, _GTEST_PROBE, ["-std=c++17"], LIBS):
        return list(BASE_FLAGS)
    if not _compiles(cxx, _GTEST_PROBE, ["-std=c++17", "-fsyntax-only"]):
        pytest.skip(
            "GoogleTest headers not found (<gtest/gtest.h>); on Debian/Ubuntu: "
            "apt-get install libgtest-dev"
        )
    pytest.skip(
        "GoogleTest headers found but libgtest/libgtest_main do not link; on "
        "Debian/Ubuntu: apt-get install libgtest-dev"
    )


@pytest.fixture(scope="session")
def cc_test_binaries() -> dict:
    """Compiles every tests/cc/*_test.cc (in parallel) once, or reuses the
    cached binaries of the same compiler, flags and sources."""
    cxx = _compiler()
    if cxx is None:
        pytest.skip("no C++ compiler found (set $CXX or install g++)")
    no_san = os.environ.get("TF_MLM_CC_TESTS_NO_SANITIZERS") == "1"
    out_dir = _build_cache.entry(
        "cc_tests", "gtest", _key(cxx, [BASE_FLAGS, SANITIZE_FLAGS, LIBS, no_san])
    )
    if not all((out_dir / src.stem).is_file() for src in TEST_SOURCES):
        flags = _choose_flags(cxx)
        out_dir.mkdir(parents=True, exist_ok=True)
    else:
        flags = None  # all cached

    def build(src: Path):
        binary = out_dir / src.stem
        if binary.is_file():
            return src.stem, binary, None
        tmp = out_dir / f".{src.stem}.{os.getpid()}.tmp"
        cmd = [cxx, *flags, str(src), *LIBS, "-o", str(tmp)]
        proc = _run(cmd, cwd=ROOT)
        if proc.returncode != 0:
            return src.stem, None, " ".join(cmd) + "\n" + proc.stderr[-6000:]
        os.replace(tmp, binary)
        return src.stem, binary, None

    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as ex:
        results = list(ex.map(build, TEST_SOURCES))
    return {name: (binary, error) for name, binary, error in results}


def test_cc_tests_exist():
    assert len(TEST_SOURCES) >= 5, TEST_SOURCES


@pytest.mark.parametrize("name", [p.stem for p in TEST_SOURCES])
def test_cc_core(cc_test_binaries, name):
    binary, error = cc_test_binaries[name]
    if error is not None:
        pytest.fail(f"compiling tests/cc/{name}.cc failed:\n{error}", pytrace=False)
    env = dict(
        os.environ,
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
    )
    proc = _run([str(binary), "--gtest_color=no"], env=env, timeout=600)
    if proc.returncode != 0:
        failed = [l for l in proc.stdout.splitlines() if "FAILED" in l or "Failure" in l]
        pytest.fail(
            f"tests/cc/{name}.cc: exit status {proc.returncode}\n"
            + "\n".join(failed[:40])
            + "\n--- output (tail) ---\n"
            + proc.stdout[-6000:]
            + proc.stderr[-6000:],
            pytrace=False,
        )
    assert "[  PASSED  ]" in proc.stdout
