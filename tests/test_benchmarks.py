"""Smoke test of the benchmark machinery on a tiny batch: structure of the
results, table, JSON, Markdown and charts. Timings are never checked here;
performance is reported by `python -m benchmarks`."""

import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
# `benchmarks` lives at the repository root, next to tests/
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import bench_hf, masking, memory, reference, report, suite, timing  # noqa: E402

# Multi-process, compiler or sanitizer work: the main CI job runs these;
# the Bazel and TensorFlow-matrix jobs deselect them (-m 'not slow').
pytestmark = pytest.mark.slow

TINY = reference.Reference(rows=6, min_len=8, max_len=24)
TINY_SETTINGS = suite.Settings(
    repeats=2,
    eager_repeats=1,
    tfdata_repeats=1,
    tfdata_seconds=0.02,
    scaling_repeats=1,
    scaling_rows=(4, 8),
    scaling_lengths=(8, 16),
    whole_word_eager=True,
    memory_large_rows=None,
    memory_calls=1,
    external_repeats=1,
)
ROW_KEYS = {
    "system",
    "mode",
    "ms",
    "p25_ms",
    "p75_ms",
    "tokens",
    "samples",
    "mtok_s",
    "vs_peer",
    "vs_floor",
}


@pytest.fixture(scope="module")
def results():
    # tf_mlm alone: tracing tensorflow_text's graphs takes seconds each
    ours_only = dict(reference.masking_systems(), tensorflow_text=None)
    return suite.run(
        TINY_SETTINGS,
        TINY,
        only=["function", "eager", "whole-word", "tf.data", "scaling"],
        log=lambda _: None,
        systems=ours_only,
    )


def test_peer_ratio_in_the_same_run():
    systems = reference.masking_systems()
    if systems["tensorflow_text"] is None:
        pytest.skip("tensorflow_text not installed")
    rows = report.add_ratios(masking.bench_function_and_floor(systems, TINY, repeats=1))
    ours = {r["mode"]: r for r in rows if r["system"] == "tf_mlm"}
    assert ours["tf.function"]["vs_peer"] > 0 and ours[masking.FUSED_OP]["vs_peer"] > 0
    assert ours[masking.IN_GRAPH]["vs_peer"] > 0
    assert {r["system"] for r in rows} == {
        "tf_mlm",
        "tensorflow_text",
        "floor",
        masking.RAGGED_FLOOR,
    }


def test_reference_batches_share_tokens():
    tokens = reference.token_batch(TINY)
    words = reference.word_batch(TINY)
    assert tokens.shape[0] == words.shape[0] == TINY.rows
    assert tokens.flat_values.numpy().tolist() == words.flat_values.numpy().tolist()
    lengths = tokens.row_lengths().numpy()
    assert lengths.min() >= TINY.min_len and lengths.max() <= TINY.max_len
    first = tokens.flat_values.numpy()[tokens.row_splits.numpy()[:-1]]
    assert set(first.tolist()) == {reference.CLS}


def test_reference_batch_is_the_documented_one():
    lengths = reference.row_lengths()
    assert len(lengths) == 256 and 128 <= lengths.min() and lengths.max() <= 512
    assert 80_000 < lengths.sum() < 88_000


def test_rows_cover_every_system_and_mode(results):
    rows = results["rows"]
    assert all(ROW_KEYS <= set(r) for r in rows)
    modes = {(r["system"], r["mode"]) for r in rows}
    for mode in (
        "tf.function",
        "eager",
        "whole-word tf.function",
        "whole-word eager",
        "tf.data (AUTOTUNE map, prefetch)",
        "tf.function, in graph",
        "whole-word tf.function, in graph",
    ):
        assert ("tf_mlm", mode) in modes
    assert any(r["system"] == "floor" for r in rows)
    assert any(r["system"] == "floor (ragged I/O)" for r in rows)
    in_graph = next(r for r in rows if r["mode"] == "tf.function, in graph")
    assert in_graph["batches_per_call"] == 16 and in_graph["ms"] > 0
    ours = next(r for r in rows if r["system"] == "tf_mlm" and r["mode"] == "tf.function")
    assert ours["traces"] == 1 and ours["vs_floor"] > 0
    assert ours["vs_peer"] is None  # no peer in this run
    assert "tensorflow_text not importable: no peer ratios" in results["notes"]


def test_scaling_has_points_and_fits(results):
    for sweep in ("batch_size", "sequence_length"):
        data = results["scaling"][sweep]
        assert {p["system"] for p in data["points"]} >= {"tf_mlm", "tf_mlm, in graph", "floor"}
        for system in ("tf_mlm", "tf_mlm, in graph"):
            assert set(data["fit"][system]) == {
                "slope",
                "slope_upper_half",
                "fixed_ms",
                "ns_per_token",
            }
    # In graph leaves out the fixed per-call cost: per batch, it is the cheaper.
    points = results["scaling"]["batch_size"]["points"]
    largest = max(p["x"] for p in points)
    ms = {p["system"]: p["ms"] for p in points if p["x"] == largest}
    assert ms["tf_mlm, in graph"] < ms["tf_mlm"]


def test_table_json_markdown(results, tmp_path):
    text = report.render_text(results)
    for column in report.TABLE_COLUMNS:
        assert column in text
    assert "Targets" not in text and "targets" not in results
    path = tmp_path / "latest.json"
    report.write_json(results, str(path))
    loaded = json.loads(path.read_text())  # strict JSON: no NaN
    assert loaded["rows"] and loaded["machine"]["nproc"] >= 1
    md = report.render_markdown(results)
    assert md.count("| tf_mlm |") >= 5


def test_charts(results, tmp_path):
    pytest.importorskip("matplotlib")
    from benchmarks import plots

    paths = plots.all_charts(results, str(tmp_path))
    assert len(paths) == 3
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_memory_in_a_subprocess():
    out = memory.run({"tf_mlm": object()}, TINY, large_rows=None, calls=1)
    assert len(out) == 1 and "error" not in out[0], out
    assert out[0]["output_bytes"] > 0 and out[0]["rows"] == TINY.rows
    assert memory.ratio(out[0], "tf_allocator") is None or memory.ratio(out[0], "tf_allocator") >= 0


def test_missing_external_benchmark_is_skipped(monkeypatch):
    monkeypatch.setitem(suite.EXTERNAL, "keras", ("benchmarks._no_such_module", "x"))
    out = suite.run_external("keras", repeats=1)
    assert "not present" in out["skipped"]


def test_cli_rejects_unknown_section(capsys):
    assert cli.main(["--only", "nonsense", "--no-plots"]) == 2
    assert "unknown section" in capsys.readouterr().err


def test_timing_helpers():
    t = timing.measure(lambda: None, repeats=3, inner=2)
    assert len(t.samples) == 3 and t.median >= 0
    assert math.isclose(timing.loglog_slope([1, 10, 100], [2, 20, 200]), 1.0)
    fit = timing.linear_fit([1, 2, 3], [3, 5, 7])
    assert math.isclose(fit["per_unit"], 2.0) and math.isclose(fit["fixed"], 1.0, abs_tol=1e-9)


def test_hf_benchmark_on_a_tiny_batch():
    pytest.importorskip("transformers", reason="transformers (the test extra) is not installed")
    tiny = {"rows": 4, "min_len": 8, "max_len": 16, "vocab_size": 1200}
    out = bench_hf.run(repeats=1, ref=tiny)
    assert {"np/arrays", "np/dicts"} <= set(out["ratio"])
    assert all(r > 0 for r in out["ratio"].values())
    assert set(out["ms"]["np/arrays"]) == {"tf_mlm", "transformers"}
