"""Fuzzing of tf_mlm's raw ops and of the C++ core (issue: robustness).

- ``test_core_fuzzer_smoke``: builds tests/fuzz/core_fuzzer.cc with
  ``clang++ -fsanitize=fuzzer,address,undefined`` (Debian: ``apt-get install
  clang libclang-rt-14-dev``), replays the committed corpus and the crash
  regressions, then fuzzes for ``$TF_MLM_FUZZ_SECONDS`` (default 30) seconds.
  Skipped, with the reason, only when clang or its fuzzer runtime is missing.
- ``test_raw_ops_fuzz``: hypothesis draws arbitrary raw op calls (values,
  nested row splits, scalars of any shape and dtype, attrs, bool tensors with
  non-0/1 bytes; ``$TF_MLM_OP_FUZZ_EXAMPLES``, default 800); a child process
  runs them (tests/fuzz/tf_ops_child.py) so that an abort cannot take pytest
  down. Only
  ``InvalidArgumentError``, ``ValueError`` and ``TypeError`` may come out,
  and accepted calls must give well-formed outputs.
- One regression test per bug the fuzzing found (README.md, "Robustness and security").

The long run is described in README.md, "Robustness and security".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import _build_cache

# Multi-process, compiler or sanitizer work: the main CI job runs these;
# the Bazel and TensorFlow-matrix jobs deselect them (-m 'not slow').
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "tests" / "fuzz"
CORPUS = FUZZ / "corpus" / "core"
REGRESSIONS = FUZZ / "regressions"
FUZZ_FLAGS = [
    "-std=c++17",
    "-O1",
    "-g",
    "-fsanitize=fuzzer,address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
    f"-I{ROOT}",
]
CLEAN_ERRORS = {"InvalidArgumentError", "ValueError", "TypeError"}


def _clang() -> str | None:
    for name in (
        os.environ.get("TF_MLM_CLANG"),
        "clang++",
        "clang++-16",
        "clang++-15",
        "clang++-14",
    ):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def build_harness(
    compiler: str, source: Path, flags: list[str], name: str, libs: tuple = ()
) -> Path:
    """Compiles `source` once per (compiler, flags, core sources); cached
    (tests/_build_cache.py)."""
    h = hashlib.sha256()
    h.update(subprocess.run([compiler, "--version"], capture_output=True).stdout)
    h.update(repr((flags, libs)).encode())
    headers = sorted(source.parent.glob("*.h"))
    for path in sorted((ROOT / "cc" / "core").glob("*")) + headers + [source]:
        h.update(path.name.encode() + path.read_bytes())
    out = _build_cache.entry("fuzz", name, h.hexdigest()[:16])
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    proc = subprocess.run(
        ["nice", "-n", "10", compiler, *flags, str(source), *libs, "-o", str(tmp)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        pytest.fail(f"compiling {source.name} failed:\n{proc.stderr[-6000:]}", pytrace=False)
    os.replace(tmp, out)
    return out


def _fuzzer_links(compiler: str) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "p.cc"
        src.write_text(
            '#include <cstdint>\n#include <cstddef>\nextern "C" int '
            "LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n"
        )
        return (
            subprocess.run(
                [
                    compiler,
                    "-fsanitize=fuzzer,address,undefined",
                    str(src),
                    "-o",
                    str(Path(tmp) / "p"),
                ],
                capture_output=True,
            ).returncode
            == 0
        )


@pytest.fixture(scope="module")
def core_fuzzer() -> Path:
    clang = _clang()
    if clang is None:
        pytest.skip(
            "clang++ not found: the libFuzzer harness needs clang (Debian: "
            "apt-get install clang libclang-rt-14-dev)"
        )
    if not _fuzzer_links(clang):
        pytest.skip(
            f"{clang} cannot link -fsanitize=fuzzer,address,undefined (Debian: "
            "apt-get install libclang-rt-14-dev)"
        )
    return build_harness(clang, FUZZ / "core_fuzzer.cc", FUZZ_FLAGS, "core_fuzzer")


def _fuzzer_env() -> dict:
    return dict(
        os.environ,
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
    )


def test_corpus_and_regressions_committed():
    assert len(list(CORPUS.iterdir())) >= 20
    assert len(list(REGRESSIONS.iterdir())) >= 1


def test_core_fuzzer_replays_corpus_and_regressions(core_fuzzer):
    inputs = sorted(CORPUS.iterdir()) + sorted(REGRESSIONS.iterdir())
    proc = subprocess.run(
        [str(core_fuzzer), *map(str, inputs)],
        capture_output=True,
        text=True,
        env=_fuzzer_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert f"Executed {inputs[-1]}" in proc.stderr


def test_core_fuzzer_smoke(core_fuzzer, tmp_path):
    """~30 s of coverage-guided fuzzing from the committed corpus."""
    seconds = int(os.environ.get("TF_MLM_FUZZ_SECONDS", "30"))
    work = tmp_path / "corpus"
    shutil.copytree(CORPUS, work)
    proc = subprocess.run(
        [
            "nice",
            "-n",
            "10",
            str(core_fuzzer),
            f"-max_total_time={seconds}",
            "-max_len=512",
            "-timeout=10",
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
            f"-artifact_prefix={tmp_path}/",
            str(work),
        ],
        capture_output=True,
        text=True,
        env=_fuzzer_env(),
        timeout=seconds + 300,
    )
    crashes = (
        list(tmp_path.glob("crash-*"))
        + list(tmp_path.glob("timeout-*"))
        + list(tmp_path.glob("leak-*"))
        + list(tmp_path.glob("oom-*"))
    )
    assert proc.returncode == 0 and not crashes, (
        f"the core fuzzer found a failure; reproduce with:\n  {core_fuzzer} {crashes}\n"
        + proc.stderr[-8000:]
    )
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
    assert runs and int(runs.group(1)) > 1000, proc.stderr[-3000:]


# ---------------------------------------------------------------------------
# Raw TF ops through Python, in a child process.

# Mostly plausible values (so that many calls are accepted and reach the
# algorithms), sometimes edge cases.
EXTREME_INTS = [-(2**63), 2**63 - 1, -(2**31), 2**31 - 1, 2**31, 2**32, 2**40]
SPECIAL_RATES = [float("nan"), float("inf"), -float("inf"), -0.0, -1e-30, 1.0000001, 2.0, 1e30]
INT = st.integers(0, 9).flatmap(
    lambda k: (
        st.sampled_from(EXTREME_INTS)
        if k == 0
        else st.integers(-3, 12)
        if k == 1
        else st.integers(1, 12)
    )
)
RATE = st.integers(0, 9).flatmap(
    lambda k: (
        st.sampled_from(SPECIAL_RATES)
        if k == 0
        else st.floats(0, 1, width=32)
        if k == 1
        else st.floats(0, 0.375, width=32)
    )
)


AXIS = st.integers(0, 4).flatmap(
    lambda k: (
        st.integers(-1, 4) | st.sampled_from([2**31 - 1, -(2**31)]) if k == 0 else st.integers(1, 3)
    )
)


def tensor(data, dtype, shape=None):
    data = list(np.asarray(data).ravel().tolist())
    return {
        "t": "tensor",
        "dtype": dtype,
        "data": data,
        "shape": [len(data)] if shape is None else shape,
    }


def py(v):
    return {"t": "py", "v": v}


@st.composite
def scalar(draw, dtype, values):
    """Usually a scalar of the right dtype; sometimes the wrong rank or dtype."""
    kind = draw(st.integers(0, 59))
    v = draw(values)
    if dtype.startswith("int") and isinstance(v, float):
        v = 0 if v != v or abs(v) == float("inf") else int(v)
    if kind == 0:
        return tensor([v, v], dtype)  # rank 1
    if kind == 1:
        return tensor([], dtype)  # empty vector
    if kind == 2:
        return tensor([0.5], "float32", [])  # wrong dtype
    if dtype.startswith("int") and not (-(2**63) <= v < 2**63):
        v = 0
    return tensor([v], dtype, [])


@st.composite
def ragged(draw, id_dtype, split_dtype, rank=None):
    """(values, nested splits): valid, corrupted, or raw."""
    rank = rank or draw(st.integers(1, 3))
    mode = draw(st.integers(0, 11))  # 0-6 valid, 7-9 corrupted, 10-11 raw
    limit = 2**31 - 1 if split_dtype == "int32" else 2**63 - 1
    if mode < 10:
        n = draw(st.integers(0, 5))
        levels = []
        for _ in range(rank):
            lengths = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
            levels.append([0] + np.cumsum(lengths, dtype=np.int64).tolist())
            n = levels[-1][-1]
        num_values = n
        if mode >= 7:  # corrupt one entry or the number of values
            what = draw(st.integers(0, 3))
            if what == 0:
                num_values = max(0, n + draw(st.integers(-2, 2)))
            else:
                level = levels[draw(st.integers(0, rank - 1))]
                if what == 1:
                    level.pop()
                else:
                    level[draw(st.integers(0, len(level) - 1))] = draw(
                        st.integers(-limit - 1, limit) | st.integers(-3, 9)
                    )
    else:
        levels = [
            draw(st.lists(st.integers(-limit - 1, limit) | st.integers(-2, 8), max_size=6))
            for _ in range(rank)
        ]
        num_values = draw(st.integers(0, 8))
    values = draw(st.lists(st.integers(-5, 40), min_size=num_values, max_size=num_values))
    splits = [tensor(level, split_dtype) for level in levels]
    if draw(st.integers(0, 30)) == 0:  # a rank-2 splits tensor
        splits[0] = tensor(levels[0] * 2, split_dtype, [2, len(levels[0])])
    return tensor(values, id_dtype), {"t": "list", "items": splits}, levels, num_values


@st.composite
def bools(draw, n):
    n = draw(st.integers(0, 8)) if draw(st.integers(0, 9)) == 0 else n
    data = draw(st.lists(st.integers(0, 1) | st.integers(0, 255), min_size=n, max_size=n))
    return {"t": "bools", "bytes": data, "shape": [n]}


def seed_spec(draw):
    if draw(st.integers(0, 9)) == 0:
        return tensor(draw(st.lists(st.integers(-9, 9), max_size=4)), "int64")
    return tensor(draw(st.lists(INT, min_size=2, max_size=2)), "int64")


def items_at(levels, num_values, level):
    return num_values if level == len(levels) else max(len(levels[level]) - 1, 0)


@st.composite
def op_case(draw):
    op = draw(
        st.sampled_from(
            [
                "mask",
                "mask_dense",
                "spans",
                "spans_dense",
                "selectable",
                "select_items",
                "select_first_n",
                "choose",
                "gather",
                "scatter",
                "span_corruption",
                "sentinels",
                "split",
            ]
        )
    )
    t = draw(st.sampled_from(["int32", "int64"]))
    s = draw(st.sampled_from(["int32", "int64"]))
    args = {}
    fused = ("mask", "mask_dense", "spans", "spans_dense")
    if op in (*fused, "selectable", "gather", "scatter"):
        values, splits, levels, nv = draw(ragged(t, s))
        args.update(values=values, row_splits=splits)
    if op in (*fused, "selectable"):
        ids = draw(st.lists(st.integers(-3, 40), max_size=4))
        args["unselectable_ids"] = (
            tensor(ids, t) if draw(st.integers(0, 15)) else tensor(ids + ids, t, [2, len(ids)])
        )
        args["axis"] = py(draw(AXIS))
    if op in fused:
        args.update(
            max_selections_per_row=draw(scalar("int64", INT)),
            selection_rate=draw(scalar("float32", RATE)),
            vocab_size=draw(scalar("int64", INT)),
            mask_token=draw(scalar("int64", INT)),
            mask_token_rate=draw(scalar("float32", RATE)),
            random_token_rate=draw(scalar("float32", RATE)),
            seed=seed_spec(draw),
        )
    if op in ("mask", "mask_dense"):
        args["selection_mode"] = py(draw(st.sampled_from(["exact", "bernoulli"])))
    if op in ("spans", "spans_dense"):
        args.update(p=draw(scalar("float32", RATE)), max_span_length=draw(scalar("int64", INT)))
    if op in ("mask_dense", "spans_dense"):
        args["output_length"] = py(
            draw(st.integers(0, 6) | st.sampled_from([2**40, 2**62, 2**63 - 1]))
        )
    if op in ("select_items", "select_first_n"):
        _, splits, levels, nv = draw(ragged(t, s, rank=1))
        args.update(selectable=draw(bools(nv)), row_splits=splits["items"][0])
    if op == "select_items":
        args.update(
            max_selections_per_row=draw(scalar("int64", INT)),
            selection_rate=draw(scalar("float32", RATE)),
            seed=seed_spec(draw),
            selection_mode=py(draw(st.sampled_from(["exact", "bernoulli"]))),
        )
    if op == "select_first_n":
        args.update(num_to_select=draw(scalar("int64", INT)), reverse=py(draw(st.booleans())))
    if op == "choose":
        ids, splits, levels, nv = draw(ragged(t, s, rank=1))
        args.update(
            ids=ids,
            row_splits=splits["items"][0],
            vocab_size=draw(scalar("int64", INT)),
            mask_token=draw(scalar("int64", INT)),
            mask_token_rate=draw(scalar("float32", RATE)),
            random_token_rate=draw(scalar("float32", RATE)),
            seed=seed_spec(draw),
        )
    if op == "gather":
        level = draw(AXIS)
        args.update(
            selected=draw(bools(items_at(levels, nv, min(max(level, 1), len(levels))))),
            mask_level=py(level),
        )
    if op == "scatter":
        p = draw(st.sampled_from(["int32", "int64"]))
        _, psplits, plevels, pn = draw(ragged(p, s, rank=1))
        args.update(
            masked_positions=tensor(
                draw(
                    st.lists(
                        st.integers(-2, 9)
                        | INT.filter(lambda v: p == "int64" or -(2**31) <= v < 2**31),
                        min_size=pn,
                        max_size=pn,
                    )
                ),
                p,
            ),
            masked_positions_row_splits=psplits["items"][0],
            new_ids=tensor(
                draw(
                    st.lists(
                        st.integers(-5, 40), min_size=pn, max_size=pn + draw(st.integers(0, 1))
                    )
                ),
                t,
            ),
        )
    if op in ("span_corruption", "sentinels"):
        values, splits, levels, nv = draw(ragged(t, s, rank=1))
        rows = max(len(levels[0]) - 1, 0)
        args.update(
            values=values,
            row_splits=splits["items"][0],
            first_sentinel=draw(scalar("int64", INT | st.integers(-3, 40))),
        )
    if op == "span_corruption":
        n = rows if draw(st.integers(0, 9)) else draw(st.integers(0, 4))
        args.update(
            seeds=tensor(draw(st.lists(INT, min_size=4 * n, max_size=4 * n)), "int64", [n, 2, 2]),
            noise_density=draw(scalar("float32", RATE)),
            mean_noise_span_length=draw(scalar("float32", RATE | st.floats(0.5, 8))),
            random_roll=tensor([draw(st.booleans())], "bool", []),
        )
    if op == "sentinels":
        args["noise_mask"] = draw(bools(nv))
    if op == "split":
        n = draw(st.integers(0, 4))
        shape = [n, 2] if draw(st.integers(0, 9)) else [n, 1]
        data = draw(st.lists(INT, min_size=n * shape[1], max_size=n * shape[1]))
        args.update(seeds=tensor(data, "int64", shape), num=py(draw(st.integers(0, 5))))
    if draw(st.integers(0, 25)) == 0:  # a wrong dtype somewhere
        key = draw(st.sampled_from(sorted(k for k, v in args.items() if v["t"] == "tensor")))
        args[key] = tensor(np.zeros(2).tolist(), "float32")
    name = {
        "mask": "tfmlm_mask_language_model",
        "mask_dense": "tfmlm_mask_language_model_dense",
        "spans": "tfmlm_mask_spans",
        "spans_dense": "tfmlm_mask_spans_dense",
        "selectable": "tfmlm_selectable",
        "select_items": "tfmlm_select_items",
        "select_first_n": "tfmlm_select_first_n",
        "choose": "tfmlm_choose_mask_values",
        "gather": "tfmlm_gather_masked",
        "scatter": "tfmlm_scatter_masked",
        "span_corruption": "tfmlm_span_corruption",
        "sentinels": "tfmlm_noise_spans_to_sentinels",
        "split": "tfmlm_stateless_split",
    }[op]
    return {"op": name, "args": args, "graph": draw(st.integers(0, 4)) == 0}


class OpChild:
    """A child process running op calls one at a time (tests/fuzz/tf_ops_child.py);
    restarted after it dies, which fails the test naming the fatal case."""

    def __init__(self):
        self.proc = None
        self.stderr = None

    def start(self):
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, str(FUZZ / "tf_ops_child.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            cwd=ROOT,
        )
        assert json.loads(self.proc.stdout.readline()).get("ready"), self._tail()

    def _tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-4000:]

    def run(self, case: dict) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                status = self.proc.wait()
                tail = self._tail()
                self.proc = None
                pytest.fail(
                    f"the op child died (exit status {status}) on case:\n"
                    f"{json.dumps(case)}\n--- stderr tail ---\n{tail}",
                    pytrace=False,
                )
            if line.startswith("{") and "outcome" in line:
                return json.loads(line)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def op_child():
    child = OpChild()
    yield child
    child.close()


# Calls the op library does not have yet (an older build) are not fuzzed.
def _known_ops_and_params() -> dict:
    code = textwrap.dedent("""
        import inspect, json
        from tf_mlm._tf import library as _library
        ops = _library.ops()
        print(json.dumps({n: list(inspect.signature(getattr(ops, n)).parameters)
                          for n in dir(ops) if n.startswith("tfmlm_")}))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


EXTRA_DEFAULTS = {  # inputs some ops gained later: their neutral values
    "excluded_ids": tensor([], "int64"),
    "alias_prob": tensor([], "float32"),
    "alias_index": tensor([], "int64"),
}


@pytest.fixture(scope="module")
def op_params() -> dict:
    return _known_ops_and_params()


EXAMPLES = int(os.environ.get("TF_MLM_OP_FUZZ_EXAMPLES", "800"))
SEEN: dict = {}


@settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
@given(case=op_case())
def test_raw_ops_fuzz(op_params, op_child, case):
    params = op_params[case["op"]]
    for extra, spec in EXTRA_DEFAULTS.items():
        if extra in params and extra not in case["args"]:
            case["args"][extra] = spec
    result = op_child.run(case)
    outcome = result["outcome"]
    if outcome == "AssertionError" and "Unreachable" in result["msg"]:
        # TensorFlow's own Python op builder (op_def_library: `assert False,
        # "Unreachable"`) on a wrongly typed input in graph mode, before any
        # tf_mlm code runs: a Python exception, not a crash.
        outcome = "TypeError"
    SEEN[outcome] = SEEN.get(outcome, 0) + 1
    assert outcome in CLEAN_ERRORS | {"ok"}, (
        f"{result['outcome']}: {result['msg']}\n  {json.dumps(case)}"
    )


def test_raw_ops_fuzz_reached_both_sides():
    """The fuzzing above exercised accepted calls and rejected ones."""
    if not SEEN:
        pytest.skip("test_raw_ops_fuzz did not run in this session")
    print("raw-op fuzz outcomes:", SEEN)
    assert SEEN.get("ok", 0) > 0 and SEEN.get("InvalidArgumentError", 0) > 0, SEEN


# ---------------------------------------------------------------------------
# Regression tests, one per bug found (see README.md, "Robustness and security").


def _child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )


def test_regression_gather_masked_non_canonical_bools():
    """Bug 1: a bool tensor holding bytes other than 0/1 (tf.constant of a
    NumPy uint8 view) made GatherMasked size its outputs by the byte sum and
    return uninitialised heap memory (pointers) as positions and ids."""
    proc = _child("""
        import numpy as np, tensorflow as tf
        from tf_mlm._tf import library as _library
        ops = _library.ops()
        sel = tf.constant(np.array([2, 7, 0, 255], np.uint8).view(np.bool_))
        for t in (tf.int32, tf.int64):
            out = ops.tfmlm_gather_masked(tf.constant([1, 2, 3, 4], t),
                                          [tf.constant([0, 4], tf.int64)], sel, mask_level=1)
            print(out.masked_positions.numpy().tolist(),
                  out.masked_positions_row_splits.numpy().tolist(),
                  out.masked_ids.numpy().tolist())
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["[0, 1, 3] [0, 3] [1, 2, 4]"] * 2


def test_regression_numpy_core_thread_limit():
    """Bug 2: tf_mlm._core.mask_language_model(num_threads=huge) started one
    thread per shard; when the process could start no more threads,
    std::system_error escaped with joinable threads alive: std::terminate."""
    proc = _child("""
        import resource
        import numpy as np
        from tf_mlm import _core
        n = 20000
        v = (np.arange(n * 4, dtype=np.int64) % 1000)
        s = np.arange(0, n * 4 + 1, 4, dtype=np.int64)
        args = (v, [s], np.array([0], np.int64), 5, 0.5, 1000, 3, 0.8, 0.1, (1, 2))
        ref = _core.mask_language_model(*args, num_threads=1)
        resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))  # no new threads at all
        out = _core.mask_language_model(*args, num_threads=100000)
        assert all(np.array_equal(a, b) for a, b in zip(ref, out) if a is not None)
        print("same")
    """)
    # Root ignores RLIMIT_NPROC; the clamp to 64 threads is what is tested then.
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "same"


def test_regression_vocab_size_beyond_int32_ids():
    """Bug 3: with int32 ids a vocab_size over 2**31 was accepted and random
    replacement ids were truncated into other, even negative, ids."""
    proc = _child("""
        import numpy as np, tensorflow as tf
        from tf_mlm import _core
        from tf_mlm._tf import library as _library
        ops = _library.ops()
        extra = {}
        import inspect
        if "excluded_ids" in inspect.signature(ops.tfmlm_choose_mask_values).parameters:
            extra = dict(excluded_ids=tf.constant([], tf.int64),
                         alias_prob=tf.constant([], tf.float32),
                         alias_index=tf.constant([], tf.int64))
        ids = tf.constant([1, 2, 3], tf.int32)
        for call in (
            lambda: ops.tfmlm_choose_mask_values(ids, tf.constant([0, 3], tf.int64), 2**40, 3,
                                                 0.0, 1.0, tf.constant([1, 2], tf.int64), **extra),
            lambda: ops.tfmlm_mask_language_model(
                ids, [tf.constant([0, 3], tf.int64)], tf.constant([], tf.int32), 3, 1.0, 2**40,
                3, 0.0, 1.0, tf.constant([1, 2], tf.int64), **extra),
        ):
            try:
                call()
                print("accepted")
            except tf.errors.InvalidArgumentError as e:
                print("vocab_size" in str(e))
        try:
            _core.mask_language_model(np.array([1, 2, 3], np.int32), [np.array([0, 3])],
                                      np.array([], np.int32), 3, 1.0, 2**40, 3, 0.0, 1.0, (1, 2))
            print("accepted")
        except ValueError as e:
            print("vocab_size" in str(e))
        # int64 ids take it.
        out = ops.tfmlm_choose_mask_values(tf.constant([1, 2, 3], tf.int64),
                                           tf.constant([0, 3], tf.int64), 2**40, 3, 0.0, 1.0,
                                           tf.constant([1, 2], tf.int64), **extra)
        print(bool(np.all((out.numpy() >= 0) & (out.numpy() < 2**40))))
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["True"] * 4


def test_regression_empty_outputs_memset_null():
    """Bug 4 (UBSan, core fuzzer): ComputeSelectable / SelectInRow called
    memset on a null pointer for an empty batch (undefined even for 0 bytes).
    The crash input is tests/fuzz/regressions/ubsan-memset-null-empty-items,
    replayed by test_core_fuzzer_replays_corpus_and_regressions; through the
    op the empty cases must simply work."""
    proc = _child("""
        import tensorflow as tf
        from tf_mlm._tf import library as _library
        ops = _library.ops()
        e = tf.constant([], tf.int64)
        print(ops.tfmlm_selectable(e, [tf.constant([0], tf.int64)], e, axis=1).shape)
        print(ops.tfmlm_select_items(tf.constant([], tf.bool), tf.constant([0], tf.int64), 3,
                                     0.0, tf.constant([1, 2], tf.int64)).shape)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["(0,)", "(0,)"]


def test_regression_span_token_counts_overflow():
    """Bug 5: TFMLM>SelectSpans summed item_token_counts in int64 without a
    bound: counts near 2**62 overflowed (undefined behaviour) and the call was
    accepted with a wrapped budget."""
    proc = _child("""
        import tensorflow as tf
        from tf_mlm._tf import library as _library
        ops = _library.ops()
        for counts in ([2**62, 2**62, 2**62], [2**63 - 1, 1, 0]):
            try:
                ops.tfmlm_select_spans(tf.constant([True] * 3), tf.constant([0, 3], tf.int64),
                                       tf.constant(counts, tf.int64), 10, 0.5, 0.2, 3,
                                       tf.constant([1, 2], tf.int64))
                print("accepted")
            except tf.errors.InvalidArgumentError as e:
                print("item_token_counts" in str(e))
        out = ops.tfmlm_select_spans(tf.constant([True] * 3), tf.constant([0, 3], tf.int64),
                                     tf.constant([1, 2, 3], tf.int64), 10, 0.5, 0.2, 3,
                                     tf.constant([1, 2], tf.int64))
        print(out.shape)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["True", "True", "(3,)"]


def test_regression_span_length_tiny_p():
    """Bug 7 (UBSan, core fuzzer): SelectSpans with p so small that 1 - p
    rounds to 1 in double (p = 1e-17 passes the (0, 1] check) computed 0 / 0 and cast
    the NaN to an integer span length. The crash input is
    tests/fuzz/regressions/ubsan-span-length-nan-tiny-p; through the op the
    spans now follow the limit law (uniform lengths in [1, max_span_length])."""
    proc = _child("""
        import numpy as np, tensorflow as tf
        from tf_mlm._tf import library as _library
        ops = _library.ops()
        out = ops.tfmlm_select_spans(tf.constant([True] * 40), tf.constant([0, 40], tf.int64),
                                     tf.constant([], tf.int64), 40, 0.5, 1e-17, 5,
                                     tf.constant([3, 4], tf.int64))
        print(int(np.sum(out.numpy())))
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 0 < int(proc.stdout.split()[-1]) <= 20  # the budget: ceil(40 * 0.5)


def test_regression_dense_output_beyond_memory():
    """Bug 8 (hypothesis raw-op fuzz): TFMLM>MaskLanguageModelDense with one row
    and output_length 2**40 passed the old bound (rows * length <= 2**40) and
    failed allocating a [1, 2**40] tensor (ResourceExhaustedError) instead of
    rejecting the argument. Dense outputs now hold at most 2**31 elements, in
    the TF kernel and in the NumPy module alike."""
    proc = _child("""
        import numpy as np
        import tensorflow as tf
        from tf_mlm import _core
        from tf_mlm._tf import library as _library
        from tf_mlm._tf.fused import uniform_replacement
        ops = _library.ops()
        try:
            ops.tfmlm_mask_language_model_dense(
                tf.constant([5], tf.int32), [tf.constant([0, 1], tf.int32)],
                tf.constant([], tf.int32), 3, 0.5, 10, 1, 0.8, 0.1,
                tf.constant([1, 2], tf.int64), **uniform_replacement(), output_length=2**40,
                axis=1)
        except tf.errors.InvalidArgumentError as e:
            print("tf", "too large" in str(e))
        v, s = np.array([5], np.int64), np.array([0, 1], np.int64)
        for call in (lambda: _core.mask_language_model(v, [s], np.array([], np.int64), 3, 0.5,
                                                       10, 1, 0.8, 0.1, (1, 2), pad_to=2**40),
                     lambda: _core.ragged_to_dense(v, s, 2**40, 0)):
            try:
                call()
            except ValueError as e:
                print("np", "too large" in str(e))
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["tf", "True", "np", "True", "np", "True"]
