"""tf_mlm.t5.ul2_objective vs UL2's mixture built from t5's preprocessors.

The mixture of the UL2 paper's configuration: six span denoisers (mean
span length / density 3 / 0.15, 8 / 0.15, 3 / 0.5, 8 / 0.5, 64 / 0.15,
64 / 0.5) and prefix LM, drawn uniformly, each with a one-token task
prefix, ``sequence_length={"inputs": 512, "targets": 512}``, on bench_t5's
2,000 documents of 400 to 800 tokens. The reference ("t5") is the paper's
recipe on t5 0.9.4: documents chunked and merged, the merged blocks dealt
to the denoisers, each shard split and denoised by t5's ``split_tokens`` and
``denoise`` (prefix LM: t5's ``prefix_lm``), the prefixes prepended, the
denoisers drawn by ``sample_from_datasets``. The two draw different
records (the same law per record, not the same cut of the documents), so
both are reported in records per second. A pass builds the pipeline (not timed) and
reads all its records in padded batches of 256 (timed); the systems take
turns.

Needs t5 and seqio (t5 0.9.4, as tests/t5_job.sh installs them):
``PYTHONPATH=DIR python -m benchmarks.bench_ul2 [--repeats N]``.
"""

from __future__ import annotations

import functools
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import seqio  # noqa: E402
import tensorflow as tf  # noqa: E402
from t5.data import preprocessors as t5p  # noqa: E402

from benchmarks.bench_collator import repeats_arg  # noqa: E402
from benchmarks.bench_t5 import REFERENCE as T5_REFERENCE  # noqa: E402
from benchmarks.bench_t5 import documents  # noqa: E402
from tf_mlm import t5 as tf_mlm_preprocessors  # noqa: E402

REFERENCE = dict(
    T5_REFERENCE,  # the documents: 2,000 of 400 to 800 tokens
    sequence_length={"inputs": 512, "targets": 512},
    means=(3.0, 8.0, 3.0, 8.0, 64.0, 64.0),
    densities=(0.15, 0.15, 0.5, 0.5, 0.15, 0.5),
)


def features(ref):
    vocab = seqio.PassThroughVocabulary(size=ref["vocab_size"], eos_id=1)
    return {k: seqio.Feature(vocab, add_eos=True) for k in ("inputs", "targets")}


def prefixes(ref):
    return [[ref["vocab_size"] - 200 + i] for i in range(len(ref["means"]) + 1)]


def tf_mlm_ul2(docs, ref):
    return tf_mlm_preprocessors.ul2_objective(
        docs,
        ref["sequence_length"],
        features(ref),
        use_prefix_lm_task=True,
        mean_noise_span_lengths=ref["means"],
        noise_densities=ref["densities"],
        optional_task_prefixes=prefixes(ref),
    )


def t5_ul2(docs, ref):
    """The paper's recipe with t5's preprocessors."""
    lengths, feats = ref["sequence_length"], features(ref)
    blocks = t5p.reduce_concat_tokens(
        t5p.select_random_chunk(docs, feats, feature_key="targets", max_length=65536),
        feature_key="targets",
        batch_size=128,
    )
    count = len(ref["means"]) + 1
    tasks = []
    for i, (mean, density) in enumerate(zip(ref["means"], ref["densities"])):
        length, _ = t5p.random_spans_helper(lengths["inputs"], density, mean, 1, 1)
        mask_fn = functools.partial(t5p.random_spans_noise_mask, mean_noise_span_length=mean)
        tasks.append(
            t5p.denoise(
                t5p.split_tokens(blocks.shard(count, i), max_tokens_per_segment=length),
                feats,
                noise_density=density,
                noise_mask_fn=mask_fn,
                inputs_fn=t5p.noise_span_to_unique_sentinel,
                targets_fn=t5p.nonnoise_span_to_unique_sentinel,
            )
        )
    tasks.append(t5p.prefix_lm(blocks.shard(count, count - 1), lengths, feats))

    def with_prefix(task, ids):
        return task.map(lambda x: {**x, "inputs": tf.concat([tf.constant(ids), x["inputs"]], 0)})

    tasks = [with_prefix(t, ids) for t, ids in zip(tasks, prefixes(ref))]
    return tf.data.Dataset.sample_from_datasets(tasks, seed=7)


SYSTEMS = {"tf_mlm": tf_mlm_ul2, "t5": t5_ul2}


def one_pass(build, docs, ref):
    with seqio.utils.map_seed_manager(ref["map_seed"]):
        ds = build(docs, ref)
    width = max(ref["sequence_length"].values()) + 1  # a task prefix on top
    batches = ds.padded_batch(256, padded_shapes={k: [width] for k in ds.element_spec})
    start, records = time.perf_counter(), 0
    for batch in batches:
        records += int(batch["targets"].shape[0])
    return time.perf_counter() - start, records


def run(repeats: int = 5, ref=None) -> dict:
    ref = dict(REFERENCE, **(ref or {}))
    docs = documents(ref)
    seconds = {name: [] for name in SYSTEMS}
    records = {}
    for _ in range(repeats + 1):  # the first pass of each warms up
        for name, build in SYSTEMS.items():
            elapsed, records[name] = one_pass(build, docs, ref)
            seconds[name].append(elapsed)
    ms = {name: 1000 * statistics.median(s[1:]) for name, s in seconds.items()}
    per_s = {name: 1000 * records[name] / ms[name] for name in SYSTEMS}
    return {
        "ms": ms,
        "records": records,
        "records_per_s": per_s,
        "ratio": {"t5": per_s["tf_mlm"] / per_s["t5"]},
        "repeats": repeats,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }


def main(argv=None):
    result = run(repeats=repeats_arg(argv, __doc__))
    ref = REFERENCE
    print(
        f"{ref['documents']} documents of {ref['min_len']}-{ref['max_len']} tokens, "
        f"{len(ref['means'])} span denoisers and prefix LM (inputs "
        f"{ref['sequence_length']['inputs']}, targets {ref['sequence_length']['targets']}); "
        f"median of {result['repeats']} passes (load average {result['load_average']:.1f} on "
        f"{result['cpus']} CPUs)"
    )
    for name, ms in result["ms"].items():
        print(
            f"  {name:7s} {ms:9.1f} ms  {result['records'][name]:6d} records  "
            f"{result['records_per_s'][name]:10,.0f} records/s"
        )
    print(f"  tf_mlm.t5 is {result['ratio']['t5']:.1f}x faster (records/s)")


if __name__ == "__main__":
    main()
