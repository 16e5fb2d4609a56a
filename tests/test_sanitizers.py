"""The C++ core under sanitizers and valgrind (issue: robustness).

- ThreadSanitizer: tests/fuzz/threads_driver.cc calls the core from several
  std::threads at once, through a shared thread pool's ParallelFor and
  through per-call threads, comparing every result with the serial one.
- AddressSanitizer + LeakSanitizer + UBSan: the same driver.
- valgrind memcheck (leaks included): the fuzz corpus and crash regressions
  replayed through every core entry point (tests/fuzz/core_fuzzer.cc built
  standalone, error paths included), and the core's GoogleTest unit tests
  (tests/cc) built without sanitizers.

Each test skips, saying why, when its toolchain piece is missing (clang or g++
with the sanitizer runtime; valgrind; GoogleTest). Debian: ``apt-get install
clang libclang-rt-14-dev valgrind libgtest-dev``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.test_fuzz import build_harness

# Multi-process, compiler or sanitizer work: the main CI job runs these;
# the Bazel and TensorFlow-matrix jobs deselect them (-m 'not slow').
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "tests" / "fuzz"
DRIVER = FUZZ / "threads_driver.cc"
BASE = ["-std=c++17", "-O1", "-g", "-fno-omit-frame-pointer", f"-I{ROOT}", "-pthread"]


def _compilers():
    names = [os.environ.get("CXX"), "clang++", "clang++-14", "g++"]
    seen = []
    for n in names:
        path = n and shutil.which(n)
        if path and path not in seen:
            seen.append(path)
    return seen


def _links(compiler: str, flags) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "p.cc"
        src.write_text("#include <thread>\nint main() { std::thread t([]{}); t.join(); }\n")
        exe = Path(tmp) / "p"
        if (
            subprocess.run(
                [compiler, *flags, str(src), "-o", str(exe)], capture_output=True
            ).returncode
            != 0
        ):
            return False
        # TSan also needs a kernel it supports (address-space layout).
        return subprocess.run([str(exe)], capture_output=True).returncode == 0


def _compiler_for(flags) -> str:
    for c in _compilers():
        if _links(c, flags):
            return c
    pytest.skip(
        f"no C++ compiler here links and runs {' '.join(flags)} (Debian: apt-get "
        "install clang libclang-rt-14-dev, or g++ with libtsan2 / libasan8)"
    )


def _run(cmd, env_extra, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=dict(os.environ, **env_extra)
    )


def test_core_threads_under_thread_sanitizer():
    flags = ["-fsanitize=thread"]
    exe = build_harness(_compiler_for(flags), DRIVER, BASE + flags, "threads_tsan")
    proc = _run([str(exe), "4", "8"], {"TSAN_OPTIONS": "halt_on_error=1:second_deadlock_stack=1"})
    assert proc.returncode == 0 and "WARNING: ThreadSanitizer" not in proc.stderr, proc.stderr[
        -8000:
    ]
    assert "equal the serial results" in proc.stdout


def test_core_threads_under_address_and_leak_sanitizer():
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    exe = build_harness(_compiler_for(flags), DRIVER, BASE + flags, "threads_asan")
    proc = _run(
        [str(exe), "4", "4"],
        {"ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"},
    )
    assert proc.returncode == 0, proc.stderr[-8000:]
    assert "equal the serial results" in proc.stdout


def _valgrind() -> str:
    path = shutil.which("valgrind")
    if path is None:
        pytest.skip("valgrind not installed (Debian: apt-get install valgrind)")
    return path


VALGRIND_FLAGS = [
    "-q",
    "--leak-check=full",
    "--show-leak-kinds=definite,indirect",
    "--errors-for-leak-kinds=definite,indirect",
    "--error-exitcode=9",
]


def test_fuzz_corpus_replay_under_valgrind():
    """Every core entry point on ~850 valid and malformed inputs: no invalid
    read or write, no use of uninitialised memory, no leak (error paths too)."""
    valgrind = _valgrind()
    cxx = shutil.which(os.environ.get("CXX", "")) or shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = build_harness(
        cxx,
        FUZZ / "core_fuzzer.cc",
        ["-std=c++17", "-O1", "-g", "-DTF_MLM_FUZZ_STANDALONE", f"-I{ROOT}"],
        "core_replay",
    )
    inputs = sorted((FUZZ / "corpus" / "core").iterdir()) + sorted((FUZZ / "regressions").iterdir())
    proc = _run([valgrind, *VALGRIND_FLAGS, str(exe), *map(str, inputs)], {}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-8000:]
    assert f"replayed {len(inputs)} inputs" in proc.stdout


def test_threads_driver_under_valgrind():
    valgrind = _valgrind()
    cxx = shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = build_harness(cxx, DRIVER, BASE, "threads_plain")
    proc = _run([valgrind, *VALGRIND_FLAGS, str(exe), "3", "1"], {}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-8000:]
    assert "equal the serial results" in proc.stdout


def _gtest_links(cxx: str) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "g.cc"
        src.write_text("#include <gtest/gtest.h>\nTEST(Probe, Ok) { EXPECT_EQ(1, 1); }\n")
        return (
            subprocess.run(
                [
                    cxx,
                    "-std=c++17",
                    str(src),
                    "-lgtest",
                    "-lgtest_main",
                    "-pthread",
                    "-o",
                    str(Path(tmp) / "g"),
                ],
                capture_output=True,
            ).returncode
            == 0
        )


CC_TESTS = sorted((ROOT / "tests" / "cc").glob("*_test.cc"))


@pytest.mark.parametrize("source", CC_TESTS, ids=[p.stem for p in CC_TESTS])
def test_core_unit_tests_under_valgrind(source):
    """The core's GoogleTest suite under memcheck (test_cc_core.py runs it
    under ASan + LSan + UBSan)."""
    valgrind = _valgrind()
    cxx = shutil.which("g++") or shutil.which("clang++")
    if cxx is None or not _gtest_links(cxx):
        pytest.skip("GoogleTest not linkable (Debian: apt-get install libgtest-dev)")
    exe = build_harness(
        cxx,
        source,
        ["-std=c++17", "-O1", "-g", f"-I{ROOT}"],
        f"vg_{source.stem}",
        libs=("-lgtest", "-lgtest_main", "-pthread"),
    )
    proc = _run([valgrind, *VALGRIND_FLAGS, str(exe), "--gtest_color=no"], {}, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    assert "[  PASSED  ]" in proc.stdout
