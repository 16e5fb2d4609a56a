"""tf_mlm.layers.MaskedLMMaskGenerator vs keras_hub's, in a tf.data pipeline.

The reference batch of docs/performance.md as a dense ``[256, 512]`` int64 batch
padded with 0 (the form a Keras preprocessing pipeline usually carries),
vocab 30522, ``mask_selection_rate=0.15``, ``mask_selection_length=76``,
mask id 103, unselectable ``[0, 101, 102]``. Each system is the same
pipeline, ``Dataset.from_tensors(batch).repeat().map(layer)``, read one
element at a time (no prefetch, injected or not, no parallel map, so that
a step costs one masking call plus the iterator); the floor is that pipeline with an identity
map. Samples of the systems are interleaved, medians reported.

Run: ``python -m benchmarks.bench_keras [--repeats N]``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from benchmarks import reference, timing

WIDTH = 512
LENGTH = 76


def dense_reference_batch(ref: reference.Reference = reference.REFERENCE) -> np.ndarray:
    """The reference rows right-padded with 0 to ``[rows, WIDTH]``, int64."""
    ids, splits = reference.token_arrays(ref)
    batch = np.zeros([len(splits) - 1, WIDTH], np.int64)
    for row, (start, end) in enumerate(zip(splits[:-1], splits[1:])):
        batch[row, : end - start] = ids[start:end]
    return batch


def _layer_kwargs(ref: reference.Reference) -> dict:
    return dict(
        vocabulary_size=ref.vocab_size,
        mask_selection_rate=ref.selection_rate,
        mask_token_id=ref.mask_token,
        mask_selection_length=LENGTH,
        unselectable_token_ids=list(ref.unselectable_ids),
    )


def _pipeline_step(tf, batch, fn):
    # No prefetch: tf.data would otherwise inject one, and a pipeline would
    # fill its buffer in the background while the others are being timed.
    options = tf.data.Options()
    options.experimental_optimization.inject_prefetch = False
    options.autotune.enabled = False
    ds = tf.data.Dataset.from_tensors(batch).repeat().map(fn).with_options(options)
    iterator = iter(ds)
    return lambda: next(iterator)


def run(repeats: int = 15, ref: reference.Reference = reference.REFERENCE) -> dict:
    """Times one tf.data step per system. Returns ``{"ms": {name: median ms},
    "ratio": {"keras_hub": x}, ...}``; ``ratio`` is how many times faster the
    tf_mlm layer is (``None`` entries when keras_hub is missing)."""
    import tensorflow as tf

    from tf_mlm.layers import MaskedLMMaskGenerator

    batch = tf.constant(dense_reference_batch(ref))
    steps = {
        "floor (identity map)": _pipeline_step(tf, batch, tf.identity),
        "tf_mlm": _pipeline_step(tf, batch, MaskedLMMaskGenerator(**_layer_kwargs(ref))),
    }
    try:
        import keras_hub
    except ImportError:
        keras_hub = None
    if keras_hub is not None:
        steps["keras_hub"] = _pipeline_step(
            tf, batch, keras_hub.layers.MaskedLMMaskGenerator(**_layer_kwargs(ref))
        )
    timings = timing.interleaved(steps, repeats=repeats, warmup=3, target_s=0.05)
    ms = {name: t.median * 1e3 for name, t in timings.items()}
    return {
        "ms": ms,
        "ratio": {"keras_hub": ms["keras_hub"] / ms["tf_mlm"] if "keras_hub" in ms else None},
        "detail": {name: t.as_dict() for name, t in timings.items()},
        "batch": list(batch.shape),
        "tokens": int(np.count_nonzero(batch.numpy())),
        "mask_selection_length": LENGTH,
        "repeats": repeats,
        "keras_hub": getattr(keras_hub, "__version__", None),
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    result = run(repeats=args.repeats)
    rows, width = result["batch"]
    print(
        f"tf.data step on a dense [{rows}, {width}] int64 batch ({result['tokens']} tokens), "
        f"mask_selection_length={result['mask_selection_length']}; median of "
        f"{result['repeats']} samples (load average {result['load_average']:.1f} on "
        f"{result['cpus']} CPUs)"
    )
    for name, value in result["ms"].items():
        print(f"  {name:22s} {value:9.3f} ms/batch")
    ratio = result["ratio"]["keras_hub"]
    if ratio is None:
        print("keras_hub is not installed: no ratio")
    else:
        print(f"tf_mlm layer vs keras_hub layer: {ratio:.1f}x faster")


if __name__ == "__main__":
    main()
