"""How the cost of one `tf.function` masking call grows with the batch:
rows (64..8192, lengths as in the reference batch) and sequence length
(32..4096 tokens per row, 256 rows), for tf_mlm, tensorflow_text and the
single-op floor. Slopes of log(time) against log(tokens) near 1 mean
linear scaling; fixed per-call costs pull the slope below 1 on small
batches, so the fit over the larger half of the points is reported too.

tf_mlm is also timed in graph (IN_GRAPH_SYSTEM: masking.IN_GRAPH_BATCHES
batches per call, time per batch), which leaves out the fixed cost of a
`tf.function` call with RaggedTensor inputs and outputs (about 1 ms here,
the same for any masker): how the kernel's own cost grows.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

from benchmarks import masking, reference, timing

FULL_ROWS = (64, 128, 256, 512, 1024, 2048, 4096, 8192)
FULL_LENGTHS = (32, 64, 128, 256, 512, 1024, 2048, 4096)
QUICK_ROWS = (64, 256, 1024)
QUICK_LENGTHS = (64, 256, 1024)
SEQUENCE_SWEEP_ROWS = 256
IN_GRAPH_SYSTEM = "tf_mlm, in graph"


def _systems_fns(systems, ref, example):
    fns = {
        name: masking.traced_once(masking.masker(mod, ref), example)
        for name, mod in systems.items()
        if mod is not None
    }
    if systems.get("tf_mlm") is not None:
        fns[IN_GRAPH_SYSTEM] = masking.in_graph_fn(masking.masker(systems["tf_mlm"], ref), example)
    fns["floor"] = masking.floor_fn(example.flat_values)
    return fns


def _sweep(systems, ref, batches, repeats) -> List[dict]:
    """`batches`: (x value, RaggedTensor) pairs; one interleaved timing each."""
    compiled = None
    points = []
    for x, rt in batches:
        if compiled is None:
            compiled = _systems_fns(systems, ref, rt)
        calls = {
            name: (lambda f, arg: lambda: f(arg))(f, rt.flat_values if name == "floor" else rt)
            for name, f in compiled.items()
        }
        times = timing.interleaved(calls, repeats, target_s=0.02, max_inner=50)
        tokens = int(rt.flat_values.shape[0])
        for name, t in times.items():
            if name == IN_GRAPH_SYSTEM:
                t = masking.per_batch(t, masking.IN_GRAPH_BATCHES)
            points.append(
                {
                    "system": name,
                    "x": int(x),
                    "tokens": tokens,
                    "ms": t.median * 1e3,
                    "p25_ms": t.p25 * 1e3,
                    "p75_ms": t.p75 * 1e3,
                }
            )
    return points


def fit(points: List[dict]) -> Dict[str, dict]:
    """Per system: log-log slope of ms against tokens over all points and
    over the larger half, and the linear fit ms = fixed + per_token * tokens."""
    out = {}
    for name in sorted({p["system"] for p in points}):
        mine = sorted((p for p in points if p["system"] == name), key=lambda p: p["tokens"])
        tokens = [p["tokens"] for p in mine]
        ms = [p["ms"] for p in mine]
        upper = len(mine) // 2
        lin = timing.linear_fit(tokens, ms)
        out[name] = {
            "slope": timing.loglog_slope(tokens, ms),
            "slope_upper_half": timing.loglog_slope(tokens[upper:], ms[upper:])
            if len(mine) - upper >= 2
            else float("nan"),
            "fixed_ms": lin["fixed"],
            "ns_per_token": lin["per_unit"] * 1e6,
        }
    return out


def run(
    systems,
    ref: reference.Reference,
    repeats: int,
    rows: Sequence[int] = FULL_ROWS,
    lengths: Sequence[int] = FULL_LENGTHS,
) -> dict:
    by_rows = _sweep(
        systems, ref, ((n, reference.token_batch(ref.scaled(rows=n))) for n in rows), repeats
    )
    by_length = _sweep(
        systems,
        ref,
        ((n, reference.fixed_length_batch(SEQUENCE_SWEEP_ROWS, n, ref)) for n in lengths),
        repeats,
    )
    return {
        "batch_size": {
            "x_label": f"rows (lengths uniform in [{ref.min_len}, {ref.max_len}])",
            "points": by_rows,
            "fit": fit(by_rows),
        },
        "sequence_length": {
            "x_label": f"tokens per row ({SEQUENCE_SWEEP_ROWS} rows)",
            "points": by_length,
            "fit": fit(by_length),
        },
    }
