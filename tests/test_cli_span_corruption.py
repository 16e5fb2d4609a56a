"""`tf-mlm mask --objective span-corruption`: T5 span-corruption data.

Every record is `tf_mlm.span_corruption` of its sequence with the record's
seed (`tf_mlm.pretraining.record_seed(seed, copy, index)` as the example
seed); inputs and targets give back the sequence; the output does not
depend on the shards or the parallelism; `tf-mlm inspect` verifies and
summarises it; options of the masked-LM objective are usage errors."""

import json

import numpy as np
import pytest
import tensorflow as tf

import tf_mlm
from tf_mlm import cli
from tf_mlm._shared import t5_lengths
from tf_mlm.pretraining import read_tfrecords, record_seed, span_feature_spec
from tf_mlm.pretraining import span_statistics as spans_lib
from tf_mlm.pretraining.config import SpanCorruptionConfig, expected_noise

VOCAB_SIZE = 1000  # sentinels 999, 998, ...: no source id reaches them
N = 300
MAX_LEN = 48


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("span")
    rng = np.random.default_rng(11)
    # lengths 1 .. 70: some longer than MAX_LEN (truncated), some of 1 token
    seqs = [rng.integers(2, 900, size=int(rng.integers(1, 71))).tolist() for _ in range(N)]
    (root / "seqs.txt").write_text("".join(" ".join(map(str, s)) + "\n" for s in seqs))
    return {"root": root, "text": root / "seqs.txt", "seqs": seqs}


def _mask(files, out, *extra, max_seq_length=MAX_LEN):
    length = [] if max_seq_length is None else ["--max-seq-length", str(max_seq_length)]
    args = ["mask", str(files["text"]), "-o", str(out), "--vocab-size", str(VOCAB_SIZE)]
    return cli.main(
        [*args, *length, "--objective", "span-corruption", "--progress", "none", *extra]
    )


def _records(out):
    """The TFRecord output read with TensorFlow, in the run's order (record
    k is in shard k % num_shards)."""
    meta = json.loads((out / "metadata.json").read_text())
    shards = [
        [
            {k: v.numpy().tolist() for k, v in tf.io.parse_single_example(r, spec).items()}
            for r in tf.data.TFRecordDataset(str(out / name))
        ]
        for name, spec in ((n, span_feature_spec()) for n in meta["shards"])
    ]
    n = sum(len(s) for s in shards)
    return [shards[k % len(shards)][k // len(shards)] for k in range(n)]


def _expected(seq, seed, copy, index, noise_density=0.15, mean_noise_span_length=3.0):
    out = tf_mlm.span_corruption(
        [seq],
        seed=[record_seed(seed, copy, index)],
        vocab_size=VOCAB_SIZE,
        noise_density=noise_density,
        mean_noise_span_length=mean_noise_span_length,
    )
    return {"inputs": out.inputs[0].numpy().tolist(), "targets": out.targets[0].numpy().tolist()}


def test_records_are_span_corruption_of_the_sequences(files, tmp_path, capsys):
    out = tmp_path / "out"
    status = _mask(
        files,
        out,
        *("--seed", "7", "--num-shards", "3", "--dupe-factor", "2"),
        *("--noise-density", "0.25", "--mean-noise-span-length", "2.5"),
    )
    assert status == 0
    line = capsys.readouterr().out
    assert line.startswith(f"wrote {2 * N} records ({N} sequences x 2) to ")
    records = _records(out)
    assert len(records) == 2 * N
    for copy in range(2):
        for i, seq in enumerate(files["seqs"]):
            want = _expected(seq[:MAX_LEN], 7, copy, i, 0.25, 2.5)
            assert records[copy * N + i] == want, (copy, i)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["objective"] == "span_corruption" and meta["first_sentinel"] == VOCAB_SIZE - 1
    assert meta["span_corruption"] == {
        "vocab_size": VOCAB_SIZE,
        "noise_density": 0.25,
        "mean_noise_span_length": 2.5,
        "max_seq_length": MAX_LEN,
        "inputs_length": None,
        "seed": 7,
        "dupe_factor": 2,
        "first_sentinel": VOCAB_SIZE - 1,
    }
    assert meta["truncated"] == sum(len(s) > MAX_LEN for s in files["seqs"])
    assert meta["inputs_tokens"] == sum(len(r["inputs"]) for r in records)
    assert meta["targets_tokens"] == sum(len(r["targets"]) for r in records)
    assert meta["feature_spec"] == {
        "inputs": {"shape": [None], "dtype": "int64"},
        "targets": {"shape": [None], "dtype": "int64"},
    }
    assert "masking" not in meta and "mask_token" not in meta


def test_inputs_and_targets_give_back_the_sequence(files, tmp_path):
    out = tmp_path / "out"
    assert _mask(files, out, "--dupe-factor", "2") == 0
    records = _records(out)
    noise_total = 0
    for k, rec in enumerate(records):
        seq = files["seqs"][k % N][:MAX_LEN]
        decoded = spans_lib.decode({name: np.asarray(v) for name, v in rec.items()}, VOCAB_SIZE - 1)
        assert decoded is not None and decoded.source.tolist() == seq, k
        noise = int(decoded.noise_mask.sum())
        noise_total += noise
        if len(seq) >= 2:
            assert (noise, decoded.spans) == expected_noise(len(seq), 0.15, 3.0)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["noise_tokens"] == noise_total
    # the copies are corrupted differently
    assert sum(records[i] != records[N + i] for i in range(N)) > N // 2


def test_output_does_not_depend_on_shards_or_parallelism(files, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert _mask(files, a, "--num-shards", "1", "--num-parallel-calls", "1") == 0
    assert _mask(files, b, "--num-shards", "4", "--num-parallel-calls", "3") == 0
    assert _mask(files, c, "--num-shards", "4", "--num-parallel-calls", "2") == 0
    assert _records(a) == _records(b)
    digests = [json.loads((d / "metadata.json").read_text())["shard_info"] for d in (b, c)]
    assert digests[0] == digests[1]  # the same bytes
    d = tmp_path / "d"
    assert _mask(files, d, "--seed", "8") == 0
    assert _records(d) != _records(a)


def test_jsonl_output_holds_the_same_records(files, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _mask(files, a, "--num-shards", "2") == 0
    assert _mask(files, b, "--num-shards", "2", "--output-format", "jsonl") == 0
    lines = [
        json.loads(line)
        for k in range(2)
        for line in (b / f"masked-{k:05d}-of-00002.jsonl").read_text().splitlines()
    ]
    by_order = [lines[(k % 2) * ((N + 1) // 2) + k // 2] for k in range(N)]
    assert by_order == _records(a)
    assert set(lines[0]) == {"inputs", "targets"}


def test_read_tfrecords_parses_span_corruption_output(files, tmp_path):
    out = tmp_path / "out"
    assert _mask(files, out, "--compression", "gzip") == 0
    first = next(iter(read_tfrecords(str(out))))
    assert sorted(first) == ["inputs", "targets"]
    assert first["inputs"].dtype == tf.int64 and first["inputs"].shape.rank == 1
    assert (
        first["inputs"].numpy().tolist()
        == _expected(files["seqs"][0][:MAX_LEN], 12345, 0, 0)["inputs"]
    )


def test_inputs_length_chooses_t5s_raw_length(files, tmp_path):
    out = tmp_path / "out"
    assert _mask(files, out, "--inputs-length", "32", max_seq_length=None) == 0
    raw, targets_length, _ = t5_lengths.raw_lengths(32, 0.15, 3.0)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["max_seq_length"] == raw and meta["span_corruption"]["inputs_length"] == 32
    records = _records(out)
    full = [r for k, r in enumerate(records) if len(files["seqs"][k]) >= raw]
    assert full
    for r in full:  # EOS makes the inputs 32 tokens
        assert len(r["inputs"]) + 1 == 32 and len(r["targets"]) + 1 <= targets_length
    for k, r in enumerate(records):
        assert r == _expected(files["seqs"][k][:raw], 12345, 0, k)


def test_inspect_verifies_and_summarises(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _mask(files, out, "--num-shards", "2", "--dupe-factor", "2") == 0
    records = _records(out)
    capsys.readouterr()
    assert cli.main(["inspect", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    sources = [min(len(s), MAX_LEN) for s in files["seqs"]] * 2
    assert stats["records"] == 2 * N and stats["tokens"] == sum(sources)
    assert stats["problems"] == [] and stats["noise_density"] == 0.15
    assert stats["noise"] == json.loads((out / "metadata.json").read_text())["noise_tokens"]
    assert 0.14 < stats["noise_fraction"] < 0.17  # short rows round their noise
    assert stats["inputs_length"]["max"] == max(len(r["inputs"]) for r in records)
    assert stats["targets_length"]["mean"] == pytest.approx(
        np.mean([len(r["targets"]) for r in records])
    )
    spans = [
        spans_lib.decode({k: np.asarray(v) for k, v in r.items()}, VOCAB_SIZE - 1).spans
        for r in records
    ]
    assert stats["spans_per_record"] == {
        "min": min(spans),
        "mean": pytest.approx(np.mean(spans)),
        "max": max(spans),
    }
    assert cli.main(["inspect", str(out), "-n", "1"]) == 0
    text = capsys.readouterr().out
    assert f"{2 * N} span-corruption records in 2 tfrecord shard(s); first sentinel 999" in text
    assert "shards verified" in text and "<extra_id_0: " in text
    assert "noise spans per record: mean" in text and "inputs length: min" in text


def test_inspect_fails_a_changed_shard_or_a_wrong_record(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _mask(files, out) == 0
    shard = out / "masked-00000-of-00001.tfrecord"
    data = bytearray(shard.read_bytes())
    data[-10] ^= 1
    shard.write_bytes(bytes(data))
    capsys.readouterr()
    assert cli.main(["inspect", str(out)]) == 1
    assert "SHA-256 differs" in capsys.readouterr().err
    # A record with other noise counts than its options give.
    rec = {"inputs": np.array([5, 6, 7, 999]), "targets": np.array([999, 8, 9])}
    options = {"first_sentinel": 999, "noise_density": 0.15, "mean_noise_span_length": 3.0}
    assert spans_lib.check_record(rec, options) == (
        "2 noise tokens in 1 spans; the options give 1 in 1 for 5 tokens"
    )
    # Sentinels out of order.
    rec = {"inputs": np.array([5, 998, 7]), "targets": np.array([999, 8])}
    assert "do not decode" in spans_lib.check_record(rec, options)
    assert spans_lib.summarize([rec], options)["problems"] == [
        "record 0: inputs and targets do not decode into one sequence (sentinels out of order)"
    ]
    # A shard without metadata: the first sentinel is the targets' first id.
    shard = tmp_path / "masked-00000-of-00001.jsonl"
    good = {"inputs": [5, 999, 8, 998], "targets": [999, 6, 7, 998, 9]}
    bad = {"inputs": [5, 999, 7], "targets": [999]}  # a sentinel and no noise
    shard.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    assert cli.main(["inspect", str(shard), "--no-verify"]) == 1
    text = capsys.readouterr().out
    assert "5 <extra_id_0: 6 7> 8 <extra_id_1: 9>" in text
    assert "PROBLEMS: record 1: inputs and targets do not decode" in text


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--masked-lm-prob", "0.15"],  # even with its default value
            "--masked-lm-prob / --selection-rate does not apply to --objective span-corruption",
        ),
        (["--whole-word"], "--whole-word does not apply to --objective span-corruption"),
        (["--mask-token", "4"], "--mask-token does not apply"),
        (["--span"], "--span does not apply"),
        (["--max-predictions-per-seq", "20"], "--max-predictions-per-seq does not apply"),
        (["--inputs-length", "64"], "give --inputs-length (the raw length is then T5's"),
        (["--noise-density", "0"], "noise density must be in (0, 1), got 0.0"),
        (["--mean-noise-span-length", "0.5"], "mean noise span length must be a number >= 1"),
        (["--noise-density", "2"], "argument --noise-density: must be in [0, 1], got 2"),
    ],
)
def test_conflicting_or_bad_options_are_usage_errors(files, tmp_path, capsys, extra, message):
    try:
        status = _mask(files, tmp_path / "out", *extra)
    except SystemExit as e:  # argparse's
        status = e.code
    err = capsys.readouterr().err.splitlines()
    assert status == 2
    assert len(err) == 1 and err[0].startswith("tf-mlm mask: error: ") and message in err[0], err
    assert not (tmp_path / "out").exists()


def test_span_options_need_the_objective(files, tmp_path, capsys):
    for extra, flag in (
        (["--noise-density", "0.15"], "--noise-density"),
        (["--mean-noise-span-length", "3"], "--mean-noise-span-length"),
        (["--inputs-length", "512"], "--inputs-length"),
    ):
        status = cli.main(
            ["mask", str(files["text"]), "-o", str(tmp_path / "o"), "--vocab-size", "1000"]
            + ["--mask-token", "4", *extra]
        )
        err = capsys.readouterr().err
        assert status == 2 and err == (
            f"tf-mlm mask: error: {flag} applies to --objective span-corruption only\n"
        )


def test_span_corruption_errors_and_inspect_need_no_tensorflow(files, tmp_path):
    from tests.test_cli_startup import run_cli

    status, out, err, tf_imported = run_cli(
        ["mask", files["text"], "-o", tmp_path / "x", "--vocab-size", "1000"]
        + ["--objective", "span-corruption", "--whole-word"]
    )
    assert status == 2 and not tf_imported and len(err) == 1, err
    out_dir = tmp_path / "out"
    assert _mask(files, out_dir) == 0
    status, out, err, tf_imported = run_cli(["inspect", out_dir, "--json"])
    assert status == 0 and not tf_imported, err
    assert json.loads(out)["records"] == N and json.loads(out)["problems"] == []


def test_sequences_too_short_for_their_spans_are_input_errors(files, tmp_path, capsys):
    # The check before the kernel agrees with the kernel, length by length.
    for density, mean in ((0.5, 1.0), (0.6, 1.0), (0.9, 2.0), (0.15, 3.0)):
        config = SpanCorruptionConfig(VOCAB_SIZE, density, mean)
        for n in range(1, 41):
            error = config.length_error(n)
            try:
                tf_mlm.span_corruption(
                    [list(range(2, 2 + n))],
                    seed=[1, 2],
                    vocab_size=VOCAB_SIZE,
                    noise_density=density,
                    mean_noise_span_length=mean,
                )
                failed = False
            except tf.errors.InvalidArgumentError:
                failed = True
            assert failed == (error is not None), (density, mean, n)
    status = _mask(
        files, tmp_path / "out", "--noise-density", "0.6", "--mean-noise-span-length", "1"
    )
    err = capsys.readouterr().err
    n = min(len(files["seqs"][0]), MAX_LEN)
    assert status == 2 and err.startswith(
        f"tf-mlm mask: error: {files['text']}:1: a sequence of {n} tokens cannot hold "
    )
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_raw_text_is_packed_without_markers(tmp_path, capsys):
    import sentencepiece as spm  # the `test` extra's

    # A T5-like SentencePiece model: pad 0, EOS 1, UNK 2, no BOS.
    rng = np.random.default_rng(3)
    words = "the a of cat dog sat on mat data fast kernel tensor graph batch row seed".split()

    def sentence():
        return " ".join(rng.choice(words, size=int(rng.integers(3, 12)))) + "."

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([sentence() for _ in range(400)]),
        model_prefix=str(tmp_path / "t5"),
        vocab_size=36,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        minloglevel=2,
    )
    model = tmp_path / "t5.model"
    sp = spm.SentencePieceProcessor(model_file=str(model))
    docs = [[sentence() for _ in range(int(rng.integers(1, 8)))] for _ in range(30)]
    (tmp_path / "corpus.txt").write_text("".join("\n".join(d) + "\n\n" for d in docs))
    out = tmp_path / "out"
    status = cli.main(
        ["mask", str(tmp_path / "corpus.txt"), "-o", str(out), "--sentencepiece-model"]
        + [str(model), "--vocab-size", "160", "--objective", "span-corruption"]
        + ["--max-seq-length", "30", "--progress", "none"]
    )
    assert status == 0, capsys.readouterr().err
    sources = [
        spans_lib.decode({k: np.asarray(v) for k, v in r.items()}, 159).source.tolist()
        for r in _records(out)
    ]
    assert all(0 < len(s) <= 30 for s in sources)
    # Sequences are a document's sentences, in order, with no markers.
    k = 0
    for doc in docs:
        stream = [i for ids in sp.encode(doc, out_type=int) for i in ids]
        got = []
        while len(got) < len(stream):
            got += sources[k]
            k += 1
        assert got == stream
    assert k == len(sources)
    assert json.loads((out / "metadata.json").read_text())["text_tokenizer"]["kind"] == (
        "sentencepiece"
    )


def test_inspect_of_json_lines_and_its_options(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _mask(files, out, "--output-format", "jsonl", "--compression", "gzip") == 0
    capsys.readouterr()
    assert cli.main(["inspect", str(out), "--json", "--limit", "50"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["records"] == 50 and stats["problems"] == []
    assert cli.main(["inspect", str(out), "--mask-token", "4"]) == 2
    assert capsys.readouterr().err == (
        "tf-mlm inspect: error: --mask-token does not apply to span-corruption output\n"
    )


def test_copies_from_stdin_equal_copies_from_a_file(files, tmp_path, monkeypatch):
    import io
    import sys

    a, b = tmp_path / "a", tmp_path / "b"
    assert _mask(files, a, "--dupe-factor", "3") == 0
    stdin = io.TextIOWrapper(io.BytesIO(files["text"].read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    args = ["mask", "-", "-o", str(b), "--vocab-size", str(VOCAB_SIZE), "--dupe-factor", "3"]
    status = cli.main(
        args
        + ["--max-seq-length", str(MAX_LEN), "--objective", "span-corruption"]
        + ["--progress", "none"]
    )
    assert status == 0
    assert _records(a) == _records(b)


def test_with_a_vocabulary_the_sentinels_lie_above_it(tmp_path, capsys):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(f"w{i}\n" for i in range(50)))
    (tmp_path / "ids.txt").write_text("".join(f"{i} {i + 1} {i + 2} 7 8 9\n" for i in range(40)))
    base = ["mask", str(tmp_path / "ids.txt"), "--vocab", str(vocab)]
    base += ["--objective", "span-corruption", "--progress", "none"]
    # without --vocab-size: T5's 100 extra ids after the vocabulary
    assert cli.main([*base, "-o", str(tmp_path / "a")]) == 0
    meta = json.loads((tmp_path / "a" / "metadata.json").read_text())
    assert meta["vocab_size"] == 150 and meta["first_sentinel"] == 149
    capsys.readouterr()
    # a --vocab-size that leaves no ids above the vocabulary is a usage error
    assert cli.main([*base, "-o", str(tmp_path / "b"), "--vocab-size", "50"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--vocab-size 50 leaves no sentinel ids above the vocabulary" in err[0]
    assert not (tmp_path / "b").exists()


def test_an_id_among_the_sequences_sentinels_is_an_error(tmp_path, capsys):
    # 20 tokens at 0.15 / 3: 3 noise tokens in 1 span, so sentinel 99 only;
    # 98 may appear, 99 may not
    lines = ["5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 98", "5 6 7 99 " + "8 " * 16]
    (tmp_path / "ids.txt").write_text("\n".join(lines) + "\n")
    argv = ["mask", str(tmp_path / "ids.txt"), "--vocab-size", "100", "--progress", "none"]
    argv += ["--objective", "span-corruption", "-o", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "ids.txt:2" in err[0], err
    assert "id 99 is one of this sequence's sentinel ids (99 to 99)" in err[0]
    assert not (tmp_path / "out").exists()
