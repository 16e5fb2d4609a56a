"""tf_mlm.pretraining: readers, the deterministic masking pipeline, atomic
sharded writers, reading back and statistics (end to end, in process)."""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tf_mlm.pretraining import (
    InputError,
    MaskingConfig,
    SequenceReader,
    feature_spec,
    inspect,
    pipeline,
    read_records,
    run_mask,
    summarize,
    writers,
)
from tf_mlm.pretraining.readers import expand_inputs

VOCAB = 500
MASK, CLS, SEP = 4, 2, 3
SPECIAL = [0, 1, 2, 3, 4]
N = 2000
SMALL = 500  # sequences of the runs repeated several times
MAX_SEQ, MAX_PRED = 64, 10


def _sequences(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return [
        [CLS] + rng.integers(5, VOCAB, size=int(rng.integers(3, 80))).tolist() + [SEP]
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    seqs = _sequences()
    paths = {
        "jsonl": root / "seqs.jsonl",
        "text": root / "seqs.txt",
        "tfrecord": root / "seqs.tfrecord",
        "small": root / "small.txt",
    }
    with open(paths["small"], "w") as f:
        f.write("".join(" ".join(map(str, s)) + "\n" for s in seqs[:SMALL]))
    with open(paths["jsonl"], "w") as f:
        for i, s in enumerate(seqs):
            f.write(json.dumps(s if i % 2 else {"input_ids": s}) + "\n")
    with open(paths["text"], "w") as f:
        f.write("".join(" ".join(map(str, s)) + "\n" for s in seqs))
    with tf.io.TFRecordWriter(str(paths["tfrecord"])) as w:
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
    return seqs, paths


def _config(**kw):
    base = dict(
        vocab_size=VOCAB,
        mask_token=MASK,
        unselectable_ids=SPECIAL,
        max_seq_length=MAX_SEQ,
        max_predictions_per_seq=MAX_PRED,
        seed=7,
    )
    base.update(kw)
    return MaskingConfig(**base)


def _run(paths, out, config=None, stdin=None, **kw):
    reader = SequenceReader(
        [str(p) for p in paths], vocab_size=VOCAB, max_seq_length=MAX_SEQ, stdin=stdin
    )
    return run_mask(reader, config or _config(), str(out), **kw)


def _parsed(out, num_shards):
    """The records of a TFRecord output in run order (record k is in shard
    k % num_shards), parsed with the feature spec."""
    names = writers.shard_names(num_shards, "tfrecord")
    spec = feature_spec(MAX_SEQ, MAX_PRED)
    shards = []
    for name in names:
        rows = []
        for batch in (
            tf.data.TFRecordDataset(str(out / name))
            .batch(1000)
            .map(lambda x: tf.io.parse_example(x, spec))
            .as_numpy_iterator()
        ):
            rows += [{k: v[i] for k, v in batch.items()} for i in range(len(batch["input_ids"]))]
        shards.append(rows)
    return [shards[k % num_shards][k // num_shards] for k in range(sum(map(len, shards)))]


def _check_consistent(records, seqs, dupe_factor=1):
    assert len(records) == len(seqs) * dupe_factor
    for k, rec in enumerate(records):
        orig = np.asarray(seqs[k % len(seqs)][:MAX_SEQ])
        n = len(orig)
        assert rec["input_mask"].tolist() == [1] * n + [0] * (MAX_SEQ - n)
        assert not rec["input_ids"][n:].any()
        w = rec["masked_lm_weights"]
        m = int(w.sum())
        assert w.tolist() == [1.0] * m + [0.0] * (MAX_PRED - m)
        pos, ids = rec["masked_lm_positions"][:m], rec["masked_lm_ids"][:m]
        assert not rec["masked_lm_positions"][m:].any() and not rec["masked_lm_ids"][m:].any()
        assert (np.diff(pos) > 0).all() and (pos < n).all()
        assert ids.tolist() == orig[pos].tolist()
        assert not np.isin(orig[pos], SPECIAL).any()
        unmasked = np.setdiff1d(np.arange(n), pos)
        assert rec["input_ids"][unmasked].tolist() == orig[unmasked].tolist()
        assert ((rec["input_ids"][:n] >= 0) & (rec["input_ids"][:n] < VOCAB)).all()
        expected = min(int(np.ceil((n - 2) * 0.15)), MAX_PRED)
        assert m == expected


@pytest.mark.parametrize("fmt", ["jsonl", "text", "tfrecord"])
def test_each_input_format_end_to_end(data, tmp_path, fmt):
    seqs, paths = data
    summary = _run([paths[fmt]], tmp_path / "out", num_shards=3)
    assert summary["records"] == N
    assert sorted(os.listdir(tmp_path / "out")) == writers.shard_names(3, "tfrecord") + [
        "metadata.json"
    ]
    records = _parsed(tmp_path / "out", 3)
    _check_consistent(records, seqs)
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["mask_token"] == MASK and meta["records"] == N
    # the BERT 80/10/10 split shows in the statistics
    stats = summarize(read_records(str(tmp_path / "out")), mask_token=MASK)
    assert stats["records"] == N and stats["masked"] == summary["masked_tokens"]
    split = stats["split"]
    total = sum(split.values())
    assert abs(split["mask"] / total - 0.8) < 0.03
    assert abs(split["random"] / total - 0.1) < 0.03
    assert not stats["problems"]


def test_same_seed_identical_whatever_the_parallelism_and_shards(data, tmp_path):
    seqs, paths = data
    _run([paths["small"]], tmp_path / "a", num_shards=2, num_parallel_calls=1)
    _run([paths["small"]], tmp_path / "b", num_shards=2, num_parallel_calls=4)
    for name in writers.shard_names(2, "tfrecord"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    _run([paths["small"]], tmp_path / "c", num_shards=5)
    a, c = _parsed(tmp_path / "a", 2), _parsed(tmp_path / "c", 5)
    assert all(all((x[k] == y[k]).all() for k in x) for x, y in zip(a, c))
    _run([paths["small"]], tmp_path / "d", config=_config(seed=8), num_shards=2)
    d = _parsed(tmp_path / "d", 2)
    assert any((x["masked_lm_positions"] != y["masked_lm_positions"]).any() for x, y in zip(a, d))


def test_dupe_factor_from_stdin(data, tmp_path):
    seqs, paths = data
    stdin = io.BytesIO(paths["small"].read_bytes())
    summary = _run(
        ["-"], tmp_path / "out", config=_config(dupe_factor=3), stdin=stdin, num_shards=2
    )
    assert summary["records"] == 3 * SMALL and summary["input_records"] == SMALL
    records = _parsed(tmp_path / "out", 2)
    _check_consistent(records, seqs[:SMALL], dupe_factor=3)
    differing = sum(
        (records[k]["input_ids"] != records[k + SMALL]["input_ids"]).any() for k in range(SMALL)
    )
    assert differing > 0.9 * SMALL


def test_jsonl_output_and_shuffle(data, tmp_path):
    seqs, paths = data
    _run([paths["jsonl"]], tmp_path / "out", output_format="jsonl")
    lines = (tmp_path / "out" / "masked-00000-of-00001.jsonl").read_text().splitlines()
    assert len(lines) == N
    for line, orig in zip(lines, seqs):
        rec = {k: np.asarray(v) for k, v in json.loads(line).items()}
        assert inspect.original_ids(rec).tolist() == orig[:MAX_SEQ]
    _run([paths["jsonl"]], tmp_path / "shuf", output_format="jsonl", shuffle_buffer=500)
    shuffled = (tmp_path / "shuf" / "masked-00000-of-00001.jsonl").read_text().splitlines()
    assert sorted(shuffled) == sorted(lines) and shuffled != lines
    order = {
        name: json.loads((tmp_path / name / "metadata.json").read_text())["order"]
        for name in ("out", "shuf")
    }
    assert order == {"out": pipeline.ORDER, "shuf": pipeline.SHUFFLE_BUFFER_ORDER}


def test_whole_words_never_split_and_budget_kept(tmp_path):
    rng = np.random.default_rng(3)
    rows = [
        [[CLS]]
        + [
            rng.integers(5, VOCAB, size=int(rng.integers(1, 4))).tolist()
            for _ in range(int(rng.integers(2, 25)))
        ]
        + [[SEP]]
        for _ in range(1000)
    ]
    path = tmp_path / "words.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = _config(whole_word=True, max_predictions_per_seq=6, max_selections=6)
    _run([path], tmp_path / "out", config=config, output_format="jsonl")
    recs = list(read_records(str(tmp_path / "out")))
    for rec, words in zip(recs, rows):
        lengths = [len(w) for w in words]
        word_of = np.repeat(np.arange(len(words)), lengths)[:MAX_SEQ]
        pos = rec["masked_lm_positions"]
        assert len(pos) <= 6
        for w in set(word_of[pos].tolist()):
            whole = np.flatnonzero(word_of == w)
            assert set(whole.tolist()) <= set(pos.tolist())
        assert inspect.original_ids(rec).tolist() == sum(words, [])[:MAX_SEQ]


def test_interrupted_run_leaves_no_final_shard(data, tmp_path):
    _, paths = data
    out = tmp_path / "out"

    def interrupt(count):
        if count == 700:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run([paths["jsonl"]], out, num_shards=3, _after_record=interrupt)
    # the temporary shards were there, holding records, when the interrupt came
    assert not out.exists()  # created by the run, removed with its temporary files
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt):
        _run([paths["jsonl"]], out, num_shards=3, overwrite=True, _after_record=interrupt)
    assert os.listdir(out) == ["notes.txt"]


def test_interrupted_overwrite_keeps_the_previous_dataset(data, tmp_path):
    _, paths = data
    out = tmp_path / "out"
    _run([paths["small"]], out, num_shards=2)
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}

    def interrupt(count):
        if count == SMALL:  # every record written, nothing published yet
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(
            [paths["small"]],
            out,
            config=_config(seed=99),
            num_shards=3,
            overwrite=True,
            _after_record=interrupt,
        )
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before
    assert inspect.verify_output(str(out))["records"] == SMALL
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []


def test_existing_output_refused_unless_overwrite(data, tmp_path):
    _, paths = data
    out = tmp_path / "out"
    _run([paths["text"]], out, num_shards=3)
    with pytest.raises(InputError, match="already exists"):
        _run([paths["text"]], out)
    _run([paths["text"]], out, overwrite=True, num_shards=2)
    assert sorted(os.listdir(out)) == writers.shard_names(2, "tfrecord") + ["metadata.json"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"[1, 2]\n[3, 4\n", r"bad\.jsonl:2: malformed JSON"),
        (b"[1, 2]\n\n[3, 2.5]\n", r"bad\.jsonl:3: 2\.5 is not an integer id"),
        (b"[1, 2]\n[3, 999]\n", r"bad\.jsonl:2: id 999 \(token 1\) is outside the vocabulary"),
        (b'{"ids": [1]}\n', r"bad\.jsonl:1: the JSON object has no key 'input_ids'"),
        (b"[1, -1]\n", r"bad\.jsonl:1: id -1"),
    ],
)
def test_malformed_jsonl(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        _run([path], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_malformed_text_and_tfrecord(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"1 2 3\n4 five 6\n")
    with pytest.raises(InputError, match=r"bad\.txt:2: 'five' is not an integer id"):
        list(SequenceReader([str(path)], vocab_size=VOCAB))
    rec = tmp_path / "x.tfrecord"
    with tf.io.TFRecordWriter(str(rec)) as w:
        w.write(tf.train.Example().SerializeToString())
    with pytest.raises(InputError, match=r"record 1: no feature 'input_ids'"):
        list(SequenceReader([str(rec)], vocab_size=VOCAB))
    rec.write_bytes(b"definitely not a tfrecord file")
    with pytest.raises(InputError, match="not a readable TFRecord"):
        list(SequenceReader([str(rec)], input_format="tfrecord", vocab_size=VOCAB))
    with pytest.raises(InputError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.jsonl")])
    with pytest.raises(InputError, match="no input file matches"):
        expand_inputs([str(tmp_path / "*.nothing")])


def test_long_sequences_policies():
    text = b"1 2 3 4 5 6\n7 8\n"
    for policy, expected in (("truncate", [[1, 2, 3], [7, 8]]), ("skip", [[7, 8]])):
        r = SequenceReader(
            ["-"], vocab_size=VOCAB, max_seq_length=3, long_sequences=policy, stdin=io.BytesIO(text)
        )
        assert [x.ids.tolist() for x in r] == expected
    with pytest.raises(InputError, match=r"<stdin>:1: sequence of 6 tokens"):
        list(
            SequenceReader(
                ["-"],
                vocab_size=VOCAB,
                max_seq_length=3,
                long_sequences="error",
                stdin=io.BytesIO(text),
            )
        )
    words = b"[[1], [2, 3], [4, 5, 6]]\n"
    r = SequenceReader(["-"], vocab_size=VOCAB, max_seq_length=4, stdin=io.BytesIO(words))
    rec = next(iter(r))
    assert rec.ids.tolist() == [1, 2, 3, 4] and rec.word_lengths.tolist() == [1, 2, 1]


def test_config_validation():
    with pytest.raises(ValueError, match="mask token rate \\+ random token rate"):
        _config(mask_token_rate=0.95, random_token_rate=0.1).validate()
    with pytest.raises(ValueError, match="mask token 600 is outside"):
        _config(mask_token=600).validate()
    with pytest.raises(ValueError, match="dupe factor"):
        _config(dupe_factor=0).validate()


@pytest.mark.parametrize("fmt", ["tfrecord", "jsonl"])
def test_gzip_output_reads_back(data, tmp_path, fmt):
    seqs, paths = data
    _run([paths["small"]], tmp_path / "out", output_format=fmt, compression="gzip")
    names = os.listdir(tmp_path / "out")
    assert f"masked-00000-of-00001.{fmt}.gz" in names
    recs = list(read_records(str(tmp_path / "out")))
    assert [inspect.original_ids(r).tolist() for r in recs] == [s[:MAX_SEQ] for s in seqs[:SMALL]]


def test_failure_while_opening_the_shards_leaves_nothing(data, tmp_path, monkeypatch):
    _, paths = data

    def no_space(*args, **kwargs):
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr(writers.gzip, "GzipFile", no_space)
    with pytest.raises(writers.OutputError, match=r"No space left on device \(ENOSPC\)"):
        _run([paths["small"]], tmp_path / "out", output_format="jsonl", compression="gzip")
    assert os.listdir(tmp_path) == []
    assert not writers._ACTIVE


def test_overwrite_without_an_atomic_exchange_falls_back_to_two_renames(
    data, tmp_path, monkeypatch
):
    """Where renameat2(RENAME_EXCHANGE) is missing (not Linux, some file
    systems): the old directory is moved aside, the new one renamed in."""
    _, paths = data
    out = tmp_path / "out"
    _run([paths["small"]], out, num_shards=3)
    monkeypatch.setattr(writers, "_exchange", lambda a, b: False)
    _run([paths["small"]], out, config=_config(seed=99), num_shards=2, overwrite=True)
    assert inspect.verify_output(str(out))["masking"]["seed"] == 99
    assert sorted(os.listdir(tmp_path)) == ["out"]
