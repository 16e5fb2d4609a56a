"""The `tf-mlm` command line: mask, inspect, bench, demo; errors and Ctrl-C."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_mlm import cli
from tf_mlm.pretraining import feature_spec, writers

VOCAB_TOKENS = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + [f"w{i}" for i in range(150)]
    + [f"##p{i}" for i in range(45)]
)
N = 1500


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(VOCAB_TOKENS) + "\n")
    rng = np.random.default_rng(5)
    seqs = [
        [2] + rng.integers(5, len(VOCAB_TOKENS), size=int(rng.integers(4, 60))).tolist() + [3]
        for _ in range(N)
    ]
    text = root / "seqs.txt"
    text.write_text("".join(" ".join(map(str, s)) + "\n" for s in seqs))
    return {"root": root, "vocab": vocab, "text": text, "seqs": seqs}


def _mask(files, out, *extra):
    return cli.main(
        [
            "mask",
            str(files["text"]),
            "-o",
            str(out),
            "--vocab",
            str(files["vocab"]),
            "--max-seq-length",
            "64",
            "--max-predictions-per-seq",
            "10",
            "--progress",
            "none",
            *extra,
        ]
    )


def test_mask_then_read_in_a_training_pipeline(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _mask(files, out, "--num-shards", "2", "--dupe-factor", "2", "--seed", "3") == 0
    assert f"wrote {2 * N} records ({N} sequences x 2)" in capsys.readouterr().out
    spec = feature_spec(64, 10)
    ds = (
        tf.data.TFRecordDataset(sorted(str(p) for p in out.glob("masked-*.tfrecord")))
        .map(lambda r: tf.io.parse_single_example(r, spec))
        .batch(256)
    )
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
    assert (
        _mask(
            files,
            out,
            "--whole-word",
            "--span",
            "--mask-token-rate",
            "0",
            "--random-token-rate",
            "1",
            "--replacement-frequencies",
            str(freq),
            "--output-format",
            "jsonl",
        )
        == 0
    )
    capsys.readouterr()
    assert cli.main(["inspect", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == N
    for line in (out / "masked-00000-of-00001.jsonl").read_text().splitlines():
        rec = json.loads(line)
        shown = np.asarray(rec["input_ids"])[rec["masked_lm_positions"]]
        assert set(shown.tolist()) <= {7, 9}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--masked-lm-prob", "1.5"], r"--masked-lm-prob: must be in \[0, 1\], got 1\.5"),
        (["--random-token-rate", "abc"], r"must be a number in \[0, 1\], got 'abc'"),
    ],
)
def test_rates_are_probabilities_at_parse_time(files, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        _mask(files, tmp_path / "out", *args)
    assert exc.value.code == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mask-token", "[NOPE]"], r"token '\[NOPE\]' is not in the vocabulary"),
        (["--mask-token-rate", "0.95"], r"mask token rate \+ random token rate must be <= 1"),
        (["--vocab-size", "100"], "smaller than the vocabulary"),
        (["--long-sequences", "error", "--max-seq-length", "10"], r"seqs\.txt:\d+: sequence of"),
    ],
)
def test_option_errors(files, tmp_path, capsys, args, message):
    assert _mask(files, tmp_path / "out", *args) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_input_errors(files, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[2, 5, 3]\n[2, 5, 3\n")
    out = tmp_path / "out"
    argv = ["mask", str(bad), "-o", str(out), "--vocab", str(files["vocab"]), "--progress", "none"]
    assert cli.main(argv) == 2
    assert f"tf-mlm mask: error: {bad}:2: malformed JSON" in capsys.readouterr().err
    bad.write_text("[2, 5, 3]\n[2, 5000, 3]\n")
    assert cli.main(argv) == 2
    assert (
        f"{bad}:2: id 5000 (token 1) is outside the vocabulary [0, 200)" in capsys.readouterr().err
    )
    assert (
        cli.main(
            [
                "mask",
                str(tmp_path / "none.txt"),
                "-o",
                str(out),
                "--vocab-size",
                "9",
                "--mask-token",
                "4",
            ]
        )
        == 2
    )
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
    import builtins

    real_import = builtins.__import__

    def no_benchmarks(name, *args, **kwargs):
        if name.startswith("benchmarks"):
            raise ImportError("no benchmarks here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_benchmarks)
    monkeypatch.setattr(cli, "_bench_checkout", lambda: None)
    assert cli.main(["bench"]) == 2
    assert "benchmark suite is not available" in capsys.readouterr().err
    # From a checkout whose root is not importable: the suite runs there, in a child.
    calls = []
    monkeypatch.setattr(cli, "_bench_checkout", lambda: "/the/checkout")
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, cwd: calls.append((cmd, cwd)) or 0)
    assert cli.main(["bench", "--quick"]) == 0
    assert calls == [([cli.sys.executable, "-m", "benchmarks", "--quick"], "/the/checkout")]


def test_demo_still_runs_without_arguments_parsing():
    args = cli._build_parser().parse_args(["demo"])
    assert args.command == "demo" and args.rows == 4096


# -- issue 21: verification, errors as one line, sniffing ----------------------------


def _one_line_error(capsys, status, got, *fragments):
    err = capsys.readouterr().err
    assert got == status, err
    assert err.count("\n") == 1 and err.startswith("tf-mlm ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.mark.parametrize(
    "damage, message",
    [
        ("cut", "bytes, the metadata records"),
        ("flip", "SHA-256 differs"),
        ("missing", "is missing"),
        ("extra", "a shard file the metadata does not list"),
        ("no-metadata", "has no metadata.json"),
        ("list-metadata", "is not tf-mlm metadata"),
        ("bad-json", "is not valid JSON"),
        ("count", "records add up to"),
    ],
)
def test_inspect_verifies_shards_against_the_metadata(files, tmp_path, capsys, damage, message):
    out = tmp_path / "out"
    assert _mask(files, out, "--num-shards", "2", "--output-format", "jsonl") == 0
    capsys.readouterr()
    shard = out / "masked-00000-of-00002.jsonl"
    meta_path = out / "metadata.json"
    if damage == "cut":  # at a record boundary: every line still parses
        lines = shard.read_text().splitlines(keepends=True)
        shard.write_text("".join(lines[: len(lines) // 2]))
    elif damage == "flip":
        data = bytearray(shard.read_bytes())
        data[10] ^= 1
        shard.write_bytes(bytes(data))
    elif damage == "missing":
        shard.unlink()
    elif damage == "extra":
        (out / "masked-00000-of-00003.jsonl").write_text("")
    elif damage == "no-metadata":
        meta_path.unlink()
    elif damage == "list-metadata":
        meta_path.write_text("[]")
    elif damage == "bad-json":
        meta_path.write_text("{")
    elif damage == "count":
        meta = json.loads(meta_path.read_text())
        meta["records"] += 1
        meta_path.write_text(json.dumps(meta))
    _one_line_error(capsys, 1, cli.main(["inspect", str(out), "-n", "0"]), message)
    if damage in ("cut", "flip", "missing"):  # the shard is named
        _one_line_error(
            capsys, 1, cli.main(["inspect", str(out), "--json"]), "masked-00000-of-00002.jsonl"
        )
    if damage in ("cut", "count", "extra"):  # --no-verify reads what is there
        assert cli.main(["inspect", str(out), "-n", "0", "--no-verify"]) == 0
        assert "not verified" in capsys.readouterr().out


def test_inspect_verifies_one_shard_and_reports_it(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _mask(files, out, "--num-shards", "2") == 0
    capsys.readouterr()
    assert cli.main(["inspect", str(out / "masked-00001-of-00002.tfrecord"), "-n", "0"]) == 0
    assert "shards verified" in capsys.readouterr().out
    meta = json.loads((out / "metadata.json").read_text())
    assert [e["name"] for e in meta["shard_info"]] == meta["shards"]
    assert sum(e["records"] for e in meta["shard_info"]) == meta["records"] == N
    import hashlib

    for entry in meta["shard_info"]:
        data = (out / entry["name"]).read_bytes()
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_overwrite_keeps_other_files_and_replaces_the_dataset(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _mask(files, out, "--num-shards", "3") == 0
    (out / "notes.txt").write_text("mine")
    (out / "sub").mkdir()
    (out / "sub" / "a.txt").write_text("a")
    assert _mask(files, out, "--num-shards", "2", "--overwrite") == 0
    assert sorted(os.listdir(out)) == writers.shard_names(2, "tfrecord") + [
        "metadata.json",
        "notes.txt",
        "sub",
    ]
    assert (out / "notes.txt").read_text() == "mine" and (out / "sub" / "a.txt").read_text() == "a"
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []
    capsys.readouterr()
    assert cli.main(["inspect", str(out), "-n", "0"]) == 0


def test_symlinked_output_directory_is_written_where_it_points(files, tmp_path, capsys):
    target, link = tmp_path / "disk" / "data", tmp_path / "out"
    target.mkdir(parents=True)
    link.symlink_to(target)
    for seed in ("1", "2"):
        assert _mask(files, link, "--overwrite", "--seed", seed) == 0
    assert link.is_symlink() and sorted(os.listdir(target)) == [
        "masked-00000-of-00001.tfrecord",
        "metadata.json",
    ]
    assert json.loads((target / "metadata.json").read_text())["masking"]["seed"] == 2
    assert [n for n in os.listdir(tmp_path / "disk") if n.startswith(".")] == []
    capsys.readouterr()
    assert cli.main(["inspect", str(link), "-n", "0"]) == 0


def test_temporaries_of_a_dead_run_are_not_content(files, tmp_path, capsys):
    """Hidden leftovers of a killed run (this release's sibling directory,
    older releases' .tmp-PID files inside the output) are deleted by the
    next run, which needs no --overwrite for them."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    out = tmp_path / "out"
    out.mkdir()
    (out / f".masked-00000-of-00001.tfrecord.tmp-{dead}").write_bytes(b"x" * 1000)
    sibling = tmp_path / f".out.tf-mlm-tmp-{dead}"
    sibling.mkdir()
    (sibling / "masked-00000-of-00001.tfrecord").write_bytes(b"x" * 1000)
    assert _mask(files, out) == 0
    assert sorted(os.listdir(out)) == ["masked-00000-of-00001.tfrecord", "metadata.json"]
    assert not sibling.exists()


def test_mask_errors_are_one_line(files, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["mask", "-o", str(out), "--progress", "none"]
    # a corrupt deflate stream in a .gz input
    import gzip

    data = bytearray(gzip.compress(files["text"].read_bytes()))
    for i in range(200, 260):
        data[i] ^= 0x5A
    bad = tmp_path / "bad.txt.gz"
    bad.write_bytes(bytes(data))
    _one_line_error(
        capsys,
        2,
        cli.main(base + [str(bad), "--vocab", str(files["vocab"])]),
        "bad.txt.gz:",
        "cannot read",
    )
    # replacement weights that are not finite, or beyond float32
    for weight in ("inf", "1e39"):
        freq = tmp_path / "freq.txt"
        freq.write_text("1\n" * 5 + f"{weight}\n" + "1\n" * (len(VOCAB_TOKENS) - 6))
        _one_line_error(
            capsys,
            2,
            cli.main(
                base
                + [
                    str(files["text"]),
                    "--vocab",
                    str(files["vocab"]),
                    "--replacement-frequencies",
                    str(freq),
                ]
            ),
            "freq.txt:6: weight",
        )
    # every id excluded from random replacement: refused before the run
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("0 1 2\n")
    _one_line_error(
        capsys,
        2,
        cli.main(
            base
            + [
                str(tiny),
                "--vocab-size",
                "3",
                "--mask-token",
                "1",
                "--random-excluded-ids",
                "0,1,2",
            ]
        ),
        "leave no id to draw random replacements from",
    )
    assert not out.exists()


@pytest.mark.slow  # a child process (about 5 s)
def test_inspect_into_a_closed_pipe_exits_quietly(files, tmp_path):
    out = tmp_path / "out"
    assert _mask(files, out) == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "tf_mlm.cli", "inspect", str(out), "-n", "500", "--color", "never"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_inputs_are_sniffed_beyond_known_extensions(files, tmp_path, capsys):
    seqs = files["seqs"][:20]
    records = tmp_path / "train.tfrecord-00000-of-00002"  # TensorFlow's shard naming
    with tf.io.TFRecordWriter(str(records)) as w:
        for s in seqs:
            w.write(
                tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "input_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=s))
                        }
                    )
                ).SerializeToString()
            )
    unknown = tmp_path / "records.dat"
    unknown.write_bytes(records.read_bytes())
    text = tmp_path / "ids.data"
    text.write_text("".join(" ".join(map(str, s)) + "\n" for s in seqs))
    jsonl = tmp_path / "ids.lines"
    jsonl.write_text("".join(json.dumps(s) + "\n" for s in seqs))
    for i, path in enumerate((records, unknown, text, jsonl)):
        assert _mask({**files, "text": path}, tmp_path / f"out{i}", "--output-format", "jsonl") == 0
        meta = json.loads((tmp_path / f"out{i}" / "metadata.json").read_text())
        assert meta["input_formats"] == [("tfrecord", "tfrecord", "text", "jsonl")[i]]
        assert meta["records"] == 20
