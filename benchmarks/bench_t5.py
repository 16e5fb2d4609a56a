"""tf_mlm.t5.span_corruption vs t5.data.preprocessors.span_corruption.

The same tf.data pipeline on both: 2,000 documents of 400 to 800 tokens
(uniform, seed 0; int32 ids sliced from padded rows in memory), t5's
``span_corruption`` with ``sequence_length={"inputs": 512, "targets": 114}``
built under ``seqio.utils.map_seed_manager(7)``. A pass builds the pipeline
(not timed) and reads all its records in padded batches of 256 (timed: no
Python step per record, as a trainer reads them); the systems take turns.
A first pass of each checks that both give the same records.
Reported: the median pass in ms, records per second, and t5's time over
tf_mlm's; and TensorFlow's floor, a pass of the same shape that does no
work: one record per document (its first tokens as ``inputs`` and
``targets``, through one map), read the same way.

Needs t5 and seqio (t5 0.9.4, as tests/t5_job.sh installs them):
``PYTHONPATH=DIR python -m benchmarks.bench_t5 [--repeats N]``.
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import seqio  # noqa: E402
import tensorflow as tf  # noqa: E402
from t5.data import preprocessors as t5_preprocessors  # noqa: E402

from benchmarks.bench_collator import repeats_arg  # noqa: E402
from tf_mlm import t5 as tf_mlm_preprocessors  # noqa: E402

REFERENCE = {
    "documents": 2000,
    "min_len": 400,
    "max_len": 800,
    "sequence_length": {"inputs": 512, "targets": 114},
    "vocab_size": 32100,
    "map_seed": 7,
    "seed": 0,
}
SYSTEMS = {"tf_mlm": tf_mlm_preprocessors, "t5": t5_preprocessors}


def documents(ref) -> tf.data.Dataset:
    rng = np.random.default_rng(ref["seed"])
    lengths = rng.integers(ref["min_len"], ref["max_len"] + 1, size=ref["documents"])
    padded = np.zeros((len(lengths), ref["max_len"]), np.int32)
    for row, n in enumerate(lengths):
        padded[row, :n] = rng.integers(2, ref["vocab_size"] - 100, size=n, dtype=np.int32)
    # one document per element (TensorSpec([None])), as a reader's parse map gives
    # them, cached: the source costs next to nothing in the timed passes
    docs = tf.data.Dataset.from_tensor_slices((padded, lengths))
    docs = docs.map(lambda row, n: {"targets": row[:n]}).cache()
    for _ in docs:  # fill the cache
        pass
    return docs


def pipeline(module, docs, ref) -> tf.data.Dataset:
    vocab = seqio.PassThroughVocabulary(size=ref["vocab_size"], eos_id=1)
    features = {k: seqio.Feature(vocab, add_eos=True) for k in ("inputs", "targets")}
    with seqio.utils.map_seed_manager(ref["map_seed"]):
        return module.span_corruption(docs, ref["sequence_length"], features)


def floor_pipeline(docs, ref) -> tf.data.Dataset:
    lengths = ref["sequence_length"]
    return docs.map(
        lambda x: {k: x["targets"][: n - 1] for k, n in lengths.items()},
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def one_pass(module, docs, ref, keep=False):
    ds = floor_pipeline(docs, ref) if module is None else pipeline(module, docs, ref)
    if keep:
        return None, list(ds.as_numpy_iterator())
    # consumed as a trainer would: padded batches (no Python step per record)
    batches = ds.padded_batch(
        256, padded_shapes={k: [n] for k, n in ref["sequence_length"].items()}
    )
    start = time.perf_counter()
    for _ in batches:
        pass
    return time.perf_counter() - start, None


def same_records(a, b) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a, b)
    )


def run(repeats: int = 5, ref=None) -> dict:
    ref = dict(REFERENCE, **(ref or {}))
    docs = documents(ref)
    first = {name: one_pass(module, docs, ref, keep=True) for name, module in SYSTEMS.items()}
    if not same_records(first["tf_mlm"][1], first["t5"][1]):
        raise AssertionError("tf_mlm.t5 and t5 gave different records")
    systems = {**SYSTEMS, "floor": None}
    seconds = {name: [] for name in systems}
    for _ in range(repeats):
        for name, module in systems.items():
            seconds[name].append(one_pass(module, docs, ref)[0])
    ms = {name: 1000 * statistics.median(s) for name, s in seconds.items()}
    count = len(first["t5"][1])
    return {
        "ms": ms,
        "ratio": {"t5": ms["t5"] / ms["tf_mlm"]},
        "records": count,
        "records_per_s": {name: 1000 * count / t for name, t in ms.items() if name != "floor"},
        "floor_records": ref["documents"],
        "repeats": repeats,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }


def main(argv=None):
    result = run(repeats=repeats_arg(argv, __doc__))
    ref = REFERENCE
    print(
        f"{ref['documents']} documents of {ref['min_len']}-{ref['max_len']} tokens -> "
        f"{result['records']} records (inputs {ref['sequence_length']['inputs']}, targets "
        f"{ref['sequence_length']['targets']}), the same in both; median of "
        f"{result['repeats']} passes (load average {result['load_average']:.1f} on "
        f"{result['cpus']} CPUs)"
    )
    for name in SYSTEMS:
        ms = result["ms"][name]
        print(f"  {name:7s} {ms:9.1f} ms   {result['records_per_s'][name]:10,.0f} records/s")
    print(
        f"  floor   {result['ms']['floor']:9.1f} ms   (TensorFlow's own: "
        f"{result['floor_records']} records through one map, read the same way)"
    )
    print(f"  tf_mlm.t5 is {result['ratio']['t5']:.1f}x faster")


if __name__ == "__main__":
    main()
