"""``tf-mlm mask`` on Apache Beam's DirectRunner (1 worker in-process, 2
worker processes) against the local command, on the same corpus.

Corpus: 8 text files of whitespace-separated ids, 2,500 sequences each of 64
to 128 tokens (uniform, seed 0; vocabulary 30,522), masked once
(``--dupe-factor 1``) into 4 TFRecord shards with the defaults otherwise
(``--max-seq-length 128``). Each engine runs the whole job once, end to end
(start-up of the runner and its workers included); the outputs are checked
to be byte-identical.

The split of the job's time: the stages of the Beam job run one after the
other in this process on the same corpus with the job's own functions:
reading (the readers, through Beam's file systems), masking (the masking
``DoFn``'s traced function, in batches of 512), serialization (records to
``tf.train.Example`` bytes) and writing (the shards' files).

``python -m benchmarks.bench_beam [--sequences N]`` (needs apache-beam).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import random
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REFERENCE = {"files": 8, "sequences_per_file": 2500, "min_len": 64, "max_len": 128}
VOCAB = 30522
MASK = 103


def _corpus(directory: str, files: int, per_file: int) -> list:
    rng = random.Random(0)
    paths = []
    for i in range(files):
        path = os.path.join(directory, f"part-{i:03d}.txt")
        with open(path, "w") as f:
            for _ in range(per_file):
                n = rng.randint(REFERENCE["min_len"], REFERENCE["max_len"])
                f.write(" ".join(str(rng.randrange(999, VOCAB)) for _ in range(n)) + "\n")
        paths.append(path)
    return paths


def _reader(paths, opener=None):
    from tf_mlm.pretraining import readers

    return readers.SequenceReader(paths, vocab_size=VOCAB, max_seq_length=128, opener=opener)


def _config():
    from tf_mlm.pretraining.config import MaskingConfig

    return MaskingConfig(VOCAB, MASK, max_seq_length=128)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _stages(paths, tmp):
    """Seconds of reading, masking, serializing and writing, one after the other."""
    from tf_mlm import beam as tb
    from tf_mlm.pretraining import pipeline, writers
    from tf_mlm.pretraining.readers import Record

    config = _config()
    read_s, recs = _timed(lambda: list(_reader(paths, tb.open_file)))
    fn = tb._MaskBatch(config, "tfrecord", 4, False)
    fn.setup()
    batches = [recs[i : i + 512] for i in range(0, len(recs), 512)]

    def mask():
        rows = []
        for b, batch in enumerate(batches):
            chunk = [(0, b * 512 + j, Record(r.ids, None, 0, "")) for j, r in enumerate(batch)]
            out = {k: v.numpy() for k, v in fn._mask(*pipeline.pack(chunk)).items()}
            rows.extend(pipeline.rows_of(out))
        return rows

    fn._mask(*pipeline.pack([(0, 0, Record(recs[0].ids, None, 0, ""))]))  # traced, not timed
    mask_s, rows = _timed(mask)
    ser_s, data = _timed(lambda: [writers.record_bytes(r, "tfrecord") for r in rows])

    def write():
        for shard in range(4):
            tb._write_file(os.path.join(tmp, f"shard{shard}"), "tfrecord", "", data[shard::4])

    write_s, _ = _timed(write)
    return {"reading": read_s, "masking": mask_s, "serialization": ser_s, "writing": write_s}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=REFERENCE["sequences_per_file"])
    args = parser.parse_args(argv)
    import tensorflow as tf  # noqa: F401

    from tf_mlm import beam as tb
    from tf_mlm.pretraining import pipeline

    tmp = tempfile.mkdtemp(prefix="bench-beam-")
    try:
        paths = _corpus(tmp, REFERENCE["files"], args.sequences)
        config = _config()
        runs = {}
        seconds, summary = _timed(
            lambda: pipeline.run_mask(
                _reader(paths), config, os.path.join(tmp, "local"), num_shards=4
            )
        )
        runs["local command (tf.data)"] = seconds
        for label, name, options in (
            ("Beam DirectRunner, 1 worker", "beam1", ["--direct_num_workers=1"]),
            (
                "Beam DirectRunner, 2 worker processes",
                "beam2",
                ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
            ),
        ):
            out = os.path.join(tmp, name)
            runs[label], _ = _timed(
                lambda: tb.run_mask(
                    _reader(paths, tb.open_file), config, out, num_shards=4, pipeline_args=options
                )
            )
            for shard in os.listdir(os.path.join(tmp, "local")):
                assert filecmp.cmp(
                    os.path.join(tmp, "local", shard), os.path.join(out, shard), shallow=False
                ), f"{name}/{shard} differs from the local command's"
        records, tokens = summary["records"], summary["tokens"]
        print(f"{records} records, {tokens} tokens, 4 shards; outputs byte-identical\n")
        print("| engine | seconds | records/s | tokens/s |")
        print("|---|---:|---:|---:|")
        for label, s in runs.items():
            print(f"| {label} | {s:.1f} | {records / s:,.0f} | {tokens / s:,.0f} |")
        stages = _stages(paths, tmp)
        total = sum(stages.values())
        print("\n| stage (Beam job, one process) | seconds | share |")
        print("|---|---:|---:|")
        for stage, s in stages.items():
            print(f"| {stage} | {s:.2f} | {s / total:.0%} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
