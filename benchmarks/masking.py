"""tf_mlm against tensorflow_text on one batch: eager, tf.function (one
call per batch, and in graph: several batches per call), whole-word, tf.data
throughput, the bare fused op, the single-op floor and the ragged-I/O floor.

Each function returns result rows, plain dicts::

    {"system": "tf_mlm", "mode": "tf.function", "ms": 1.2, "p25_ms": ...,
     "p75_ms": ..., "tokens": 84005, "samples": 30, "inner": 8}

Ratios against the peer and the floor are added later (report.py), from
rows measured in the same run.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, List

import numpy as np

from benchmarks import reference, timing

FLOOR = "floor: tf.identity(x) + 0"
FUSED_OP = "fused op only (tf.function)"
RAGGED_FLOOR = "floor (ragged I/O)"
IN_GRAPH = "tf.function, in graph"
WHOLE_WORD_IN_GRAPH = "whole-word tf.function, in graph"
# batches masked per call in the in-graph modes: the Python cost of one
# tf.function call (RaggedTensor arguments and results) is shared by them
IN_GRAPH_BATCHES = 16


def _tf():
    import tensorflow as tf

    return tf


def masker(module, ref: reference.Reference) -> Callable:
    """`ids -> (masked, positions, labels)` through `module`'s public API."""
    selector, chooser = reference.maskers(module, ref)

    def mask(ids):
        return module.mask_language_model(ids, selector, chooser)

    return mask


def traced_once(fn: Callable, example) -> Callable:
    """`fn` as a `tf.function` with a relaxed signature (any batch, any
    lengths), traced now; calling it again never retraces."""
    tf = _tf()
    spec = tf.type_spec_from_value(example)
    if isinstance(spec, tf.RaggedTensorSpec):
        spec = tf.RaggedTensorSpec(
            [None] * example.shape.rank, spec.dtype, spec.ragged_rank, spec.row_splits_dtype
        )
    else:
        spec = tf.TensorSpec([None] * example.shape.rank, spec.dtype)
    compiled = tf.function(fn, input_signature=[spec])
    compiled.get_concrete_function()
    return compiled


def in_graph(fn: Callable, example, batches: int = IN_GRAPH_BATCHES) -> Callable:
    """One `tf.function` call that masks `example` `batches` times in a row
    (a `tf.while_loop`, one iteration at a time): what masking costs inside
    a training step or pipeline graph, without the per-call Python cost."""
    compiled = in_graph_fn(fn, example, batches)
    return lambda: compiled(example)


def in_graph_fn(fn: Callable, example, batches: int = IN_GRAPH_BATCHES) -> Callable:
    """The compiled function behind `in_graph`, traced for any batch shaped
    like `example`."""
    tf = _tf()

    def many(x):
        def body(i, total):
            positions = fn(x)[1]
            return i + 1, total + tf.size(positions.flat_values, tf.int64)

        return tf.while_loop(
            lambda i, _: i < batches,
            body,
            (tf.constant(0), tf.constant(0, tf.int64)),
            parallel_iterations=1,
        )[1]

    return traced_once(many, example)


def per_batch(t: timing.Timing, batches: int) -> timing.Timing:
    return timing.Timing([s / batches for s in t.samples])


def ragged_floor_fn(rt):
    """A `tf.function` that takes the batch and returns three RaggedTensors
    (identities), like a masking call: the Python cost of calling any
    masker with this signature, which no kernel can go below."""
    tf = _tf()
    return traced_once(lambda x: (tf.identity(x), tf.identity(x), tf.identity(x)), rt)


def floor_fn(example_values):
    """The single-op floor of docs/performance.md on the same flat values."""
    tf = _tf()
    return traced_once(lambda x: tf.identity(x) + 0, example_values)


def fused_op_fn(rt, ref: reference.Reference):
    """tf_mlm's fused kernel alone (stateless constant seed, scalar inputs
    prepared outside): what the single kernel costs, without the Python API,
    the stateful seed draw or the RaggedTensor assembly."""
    tf = _tf()
    from tf_mlm._tf import library as _library
    from tf_mlm._tf.fused import uniform_replacement

    ops = _library.ops()
    unselectable = tf.constant(ref.unselectable_ids, rt.dtype)
    seed = tf.constant([7, 11], tf.int64)

    def run(values, splits):
        return ops.tfmlm_mask_language_model(
            values,
            [splits],
            unselectable,
            tf.constant(ref.max_selections_per_row, tf.int64),
            tf.constant(ref.selection_rate, tf.float32),
            tf.constant(ref.vocab_size, tf.int64),
            tf.constant(ref.mask_token, tf.int64),
            tf.constant(0.8, tf.float32),
            tf.constant(0.1, tf.float32),
            seed,
            **uniform_replacement(),
            axis=1,
        )

    compiled = tf.function(
        run,
        input_signature=[
            tf.TensorSpec([None], rt.dtype),
            tf.TensorSpec([None], rt.row_splits.dtype),
        ],
    )
    compiled.get_concrete_function()
    values, splits = rt.flat_values, rt.row_splits
    return lambda: compiled(values, splits)


def _row(system, mode, t: timing.Timing, tokens, **extra) -> dict:
    row = {
        "system": system,
        "mode": mode,
        "ms": t.median * 1e3,
        "p25_ms": t.p25 * 1e3,
        "p75_ms": t.p75 * 1e3,
        "tokens": int(tokens),
        "samples": len(t.samples),
    }
    row.update(extra)
    return row


def _available(systems) -> Dict[str, object]:
    return {name: mod for name, mod in systems.items() if mod is not None}


def bench_function_and_floor(systems, ref, repeats) -> List[dict]:
    """Token-level `tf.function` for each system, the fused op alone and the
    floor, interleaved."""
    rt = reference.token_batch(ref)
    fns, compiled = {}, {}
    for name, mod in _available(systems).items():
        compiled[name] = traced_once(masker(mod, ref), rt)
        fns[name] = (lambda f: lambda: f(rt))(compiled[name])
        fns[(name, IN_GRAPH)] = in_graph(masker(mod, ref), rt)
    if systems.get("tf_mlm") is not None:
        fns[FUSED_OP] = fused_op_fn(rt, ref)
    floor = floor_fn(rt.flat_values)
    fns[FLOOR] = lambda: floor(rt.flat_values)
    ragged_floor = ragged_floor_fn(rt)
    fns[RAGGED_FLOOR] = lambda: ragged_floor(rt)
    times = timing.interleaved(fns, repeats)
    tokens = int(rt.flat_values.shape[0])
    rows = []
    for name, t in times.items():
        if name == FUSED_OP:
            rows.append(_row("tf_mlm", FUSED_OP, t, tokens))
        elif name == FLOOR:
            rows.append(_row("floor", "tf.identity(x) + 0 (tf.function)", t, tokens))
        elif name == RAGGED_FLOOR:
            rows.append(
                _row(RAGGED_FLOOR, "tf.function: ragged in, 3 ragged identities out", t, tokens)
            )
        elif isinstance(name, tuple):
            rows.append(
                _row(
                    name[0],
                    name[1],
                    per_batch(t, IN_GRAPH_BATCHES),
                    tokens,
                    batches_per_call=IN_GRAPH_BATCHES,
                )
            )
        else:
            retraces = int(compiled[name].experimental_get_tracing_count())
            rows.append(_row(name, "tf.function", t, tokens, traces=retraces))
    return rows


def bench_eager(systems, ref, repeats, whole_word=False) -> List[dict]:
    rt = reference.word_batch(ref) if whole_word else reference.token_batch(ref)
    fns = {
        name: (lambda f: lambda: f(rt))(masker(mod, ref))
        for name, mod in _available(systems).items()
    }
    # the slow peer runs once per sample; tf_mlm's samples last ~50 ms
    times = timing.interleaved(fns, repeats, target_s=0.05)
    mode = "whole-word eager" if whole_word else "eager"
    tokens = int(rt.flat_values.shape[0])
    return [_row(name, mode, t, tokens) for name, t in times.items()]


def bench_whole_word_function(systems, ref, repeats) -> List[dict]:
    rt = reference.word_batch(ref)
    fns = {}
    for name, mod in _available(systems).items():
        f = traced_once(masker(mod, ref), rt)
        fns[name] = (lambda g: lambda: g(rt))(f)
        fns[(name, WHOLE_WORD_IN_GRAPH)] = in_graph(masker(mod, ref), rt)
    times = timing.interleaved(fns, repeats)
    tokens = int(rt.flat_values.shape[0])
    words = int(rt.values.shape[0])
    return [
        _row(
            name[0],
            name[1],
            per_batch(t, IN_GRAPH_BATCHES),
            tokens,
            words=words,
            batches_per_call=IN_GRAPH_BATCHES,
        )
        if isinstance(name, tuple)
        else _row(name, "whole-word tf.function", t, tokens, words=words)
        for name, t in times.items()
    ]


def _pipeline(mask, rt, batches: int):
    tf = _tf()
    ds = (
        tf.data.Dataset.from_tensors(rt)
        .repeat(batches)
        .map(mask, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    # drained in-graph, so that no Python consumer limits the pipeline
    return lambda: ds.reduce(
        tf.constant(0, tf.int64), lambda n, out: n + tf.size(out[1].flat_values, tf.int64)
    )


def bench_tf_data(systems, ref, repeats, seconds: float = 1.0) -> List[dict]:
    """Tokens per second of `from_tensors(batch).repeat(N).map(masker,
    AUTOTUNE).prefetch(AUTOTUNE)`, drained with `Dataset.reduce`; N is
    chosen per system so that one pass lasts about `seconds`."""
    rt = reference.token_batch(ref)
    tokens = int(rt.flat_values.shape[0])
    passes = {}
    for name, mod in _available(systems).items():
        mask = masker(mod, ref)
        probe = 8
        run_probe = _pipeline(mask, rt, probe)
        run_probe()  # warm-up: the first pass traces the masker and the reducer
        start = time.perf_counter()
        run_probe()
        per_batch = (time.perf_counter() - start) / probe
        batches = int(np.clip(seconds / max(per_batch, 1e-6), 8, 5000))
        passes[name] = (batches, _pipeline(mask, rt, batches))
    fns = {name: run for name, (_, run) in passes.items()}
    times = timing.interleaved(fns, repeats, inner=1)
    rows = []
    for name, t in times.items():
        batches = passes[name][0]
        per_batch = timing.Timing([s / batches for s in t.samples])
        rows.append(
            _row(
                name,
                "tf.data (AUTOTUNE map, prefetch)",
                per_batch,
                tokens,
                batches_per_pass=batches,
            )
        )
    return rows
