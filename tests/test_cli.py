"""The `tf-mlm` command line: mask, inspect, bench, demo; errors and Ctrl-C."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tf_mlm import cli
from tf_mlm.pretraining import feature_spec, writers

VOCAB_TOKENS = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                + [f"w{i}" for i in range(150)] + [f"##p{i}" for i in range(45)])
N = 1500


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(VOCAB_TOKENS) + "\n")
    rng = np.random.default_rng(5)
    seqs = [[2] + rng.integers(5, len(VOCAB_TOKENS), size=int(rng.integers(4, 60))).tolist()
            + [3] for _ in range(N)]
    text = root / "seqs.txt"
    text.write_text("".join(" ".join(map(str, s)) + "\n" for s in seqs))
    return {"root": root, "vocab": vocab, "text": text, "seqs": seqs}


def _mask(files, out, *extra):
    return cli.main(["mask", str(files["text"]), "-o", str(out), "--vocab", str(files["vocab"]),
                     "--max-seq-length", "64", "--max-predictions-per-seq", "10",
                     "--progress", "none", *extra])


def test_mask_then_read_in_a_training_pipeline(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _mask(files, out, "--num-shards", "2", "--dupe-factor", "2", "--seed", "3") == 0
    assert f"wrote {2 * N} records ({N} sequences x 2)" in capsys.readouterr().out
    spec = feature_spec(64, 10)
    ds = (tf.data.TFRecordDataset(sorted(str(p) for p in out.glob("masked-*.tfrecord")))
          .map(lambda r: tf.io.parse_single_example(r, spec)).batch(256))
    count = 0
    for batch in ds.as_numpy_iterator():
        count += len(batch["input_ids"])
        weights = batch["masked_lm_weights"]
        ids = np.take_along_axis(batch["input_ids"], batch["masked_lm_positions"], 1)
        # masked positions hold the mask token, a random id or the original
        assert ((ids == 4) | (ids >= 0))[weights > 0].all()
        assert not np.isin(batch["masked_lm_ids"][weights > 0], [0, 1, 2, 3, 4]).any()
    assert count == 2 * N
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["mask_token"] == 4 and meta["masking"]["unselectable_ids"] == [0, 1, 2, 3, 4]
    assert meta["masking"]["dupe_factor"] == 2 and meta["vocab"] == str(files["vocab"])


def test_inspect_shows_tokens_and_statistics(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _mask(files, out) == 0
    capsys.readouterr()
    assert cli.main(["inspect", str(out), "-n", "2", "--color", "never"]) == 0
    text = capsys.readouterr().out
    assert "record 0:" in text and "record 1:" in text and "record 2:" not in text
    assert "[CLS]" in text and "<[MASK]=" in text
    assert f"records: {N}" in text and "mask token 4," in text and "sequence length:" in text
    assert cli.main(["inspect", str(out / "masked-00000-of-00001.tfrecord"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["records"] == N and abs(stats["masked_fraction"] - 0.15) < 0.04
    assert sum(stats["split"].values()) == stats["masked"]
    assert sum(c for _, _, c in stats["length"]["histogram"]) == N


def test_same_seed_same_bytes_across_parallelism(files, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _mask(files, a, "--num-parallel-calls", "1", "--num-shards", "3") == 0
    assert _mask(files, b, "--num-parallel-calls", "3", "--num-shards", "3") == 0
    for name in writers.shard_names(3, "tfrecord"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_strategy_options(files, tmp_path, capsys):
    freq = tmp_path / "freq.txt"
    weights = np.zeros(len(VOCAB_TOKENS))
    weights[[7, 9]] = 1.0
    freq.write_text("".join(f"{w}\n" for w in weights))
    out = tmp_path / "out"
    assert _mask(files, out, "--whole-word", "--span", "--mask-token-rate", "0",
                 "--random-token-rate", "1", "--replacement-frequencies", str(freq),
                 "--output-format", "jsonl") == 0
    capsys.readouterr()
    assert cli.main(["inspect", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == N
    for line in (out / "masked-00000-of-00001.jsonl").read_text().splitlines():
        rec = json.loads(line)
        shown = np.asarray(rec["input_ids"])[rec["masked_lm_positions"]]
        assert set(shown.tolist()) <= {7, 9}


@pytest.mark.parametrize("args, message", [
    (["--mask-token", "[NOPE]"], r"token '\[NOPE\]' is not in the vocabulary"),
    (["--mask-token-rate", "0.95"], r"mask token rate \+ random token rate must be <= 1"),
    (["--vocab-size", "100"], "smaller than the vocabulary"),
    (["--long-sequences", "error", "--max-seq-length", "10"], r"seqs\.txt:\d+: sequence of"),
])
def test_option_errors(files, tmp_path, capsys, args, message):
    assert _mask(files, tmp_path / "out", *args) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_input_errors(files, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[2, 5, 3]\n[2, 5, 3\n")
    out = tmp_path / "out"
    argv = ["mask", str(bad), "-o", str(out), "--vocab", str(files["vocab"]),
            "--progress", "none"]
    assert cli.main(argv) == 2
    assert f"tf-mlm mask: error: {bad}:2: malformed JSON" in capsys.readouterr().err
    bad.write_text("[2, 5, 3]\n[2, 5000, 3]\n")
    assert cli.main(argv) == 2
    assert f"{bad}:2: id 5000 (token 1) is outside the vocabulary [0, 200)" in \
        capsys.readouterr().err
    assert cli.main(["mask", str(tmp_path / "none.txt"), "-o", str(out), "--vocab-size", "9",
                     "--mask-token", "4"]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert cli.main(["mask", str(files["text"]), "-o", str(out), "--vocab-size", "300"]) == 2
    assert "give --mask-token" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()
    (out / "old").write_text("x")
    assert _mask(files, out) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["inspect", str(tmp_path / "nothing")]) == 2


def test_bench_passes_arguments_on(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--help"])
    assert exc.value.code == 0
    assert "python -m benchmarks" in capsys.readouterr().out


def test_bench_without_the_suite(monkeypatch, capsys):
    import builtins  # pylint: disable=import-outside-toplevel
    real_import = builtins.__import__

    def no_benchmarks(name, *args, **kwargs):
        if name.startswith("benchmarks"):
            raise ImportError("no benchmarks here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_benchmarks)
    monkeypatch.setattr(cli.os.path, "exists", lambda p: False)
    assert cli.main(["bench"]) == 2
    assert "benchmark suite is not available" in capsys.readouterr().err


def test_demo_still_runs_without_arguments_parsing():
    args = cli._build_parser().parse_args(["demo"])  # pylint: disable=protected-access
    assert args.command == "demo" and args.rows == 4096
