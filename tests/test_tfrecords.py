"""tf_mlm.pretraining.tfrecords: TFRecord files of tf.train.Example read
without TensorFlow, element for element as TensorFlow reads them, checksums
verified; and `inspect`'s expected masked share."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tf_mlm import cli
from tf_mlm.pretraining import inspect, records, tfrecords


def _examples(n=50, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        feature = {
            "ids": tf.train.Feature(
                int64_list=tf.train.Int64List(value=rng.integers(-(2**62), 2**62, size=i % 7))
            ),
            "weights": tf.train.Feature(
                float_list=tf.train.FloatList(value=rng.random(i % 5).astype(np.float32))
            ),
            "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"a" * i, b"\x00\xff"])),
        }
        out.append(tf.train.Example(features=tf.train.Features(feature=feature)))
    return out


@pytest.mark.parametrize("compression", ["", "GZIP"])
def test_records_and_features_equal_tensorflows(tmp_path, compression):
    path = str(tmp_path / ("r.tfrecord" + (".gz" if compression else "")))
    examples = _examples()
    with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type=compression)) as w:
        for ex in examples:
            w.write(ex.SerializeToString())
    ours = list(tfrecords.iter_records(path))
    theirs = [t.numpy() for t in tf.data.TFRecordDataset(path, compression_type=compression)]
    assert ours == theirs
    for data, ex in zip(ours, examples):
        parsed = tfrecords.parse_example(data)
        feats = ex.features.feature
        assert parsed["ids"].dtype == np.int64
        assert parsed["ids"].tolist() == list(feats["ids"].int64_list.value)
        assert parsed["weights"].dtype == np.float32
        np.testing.assert_array_equal(
            parsed["weights"], np.float32(feats["weights"].float_list.value)
        )
        assert parsed["text"] == list(feats["text"].bytes_list.value)


def _write_one(path):
    with tf.io.TFRecordWriter(str(path)) as w:
        w.write(_examples(3)[2].SerializeToString())
    return path.read_bytes()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[:5], "truncated length"),
        (lambda b: b[:10], "truncated length checksum"),
        (lambda b: b[:-6], "truncated data"),
        (lambda b: b[:-2], "truncated data checksum"),
        (lambda b: b[:3] + bytes([b[3] ^ 1]) + b[4:], "corrupted length"),
        (lambda b: b[:14] + bytes([b[14] ^ 1]) + b[15:], "corrupted data"),
    ],
)
def test_a_damaged_file_is_an_error(tmp_path, damage, message):
    good = _write_one(tmp_path / "good.tfrecord")
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(damage(good))
    with pytest.raises(tfrecords.RecordError, match=message):
        list(tfrecords.iter_records(str(bad)))


def test_not_an_example_is_a_value_error():
    with pytest.raises(ValueError, match="not a tf.train.Example"):
        tfrecords.parse_example(b"\xff\xff\xff")


def _mask_and_inspect(tmp_path, *extra):
    rng = np.random.default_rng(3)
    lines = [
        " ".join(map(str, [2, *rng.integers(5, 90, size=int(rng.integers(1, 30))), 3]))
        for _ in range(400)
    ]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    args = ["mask", str(tmp_path / "in.txt"), "-o", str(out), "--vocab-size", "100"]
    args += ["--mask-token", "4", "--unselectable-ids", "2,3", "--progress", "none", *extra]
    assert cli.main(args) == 0
    masking = json.loads((out / "metadata.json").read_text())["masking"]
    return inspect.summarize(inspect.read_records(str(out)), mask_token=4, masking=masking)


def test_expected_share_is_the_measured_one_in_exact_mode(tmp_path, capsys):
    stats = _mask_and_inspect(tmp_path)
    # short rows: ceil(0.15 * n) is above 15 % of all tokens, [CLS] and [SEP] included
    assert stats["expected_masked_fraction"] == pytest.approx(stats["masked_fraction"], abs=1e-12)
    assert stats["masked_fraction"] > 0.16
    assert "expected masked share" in inspect.format_summary(stats)


def test_expected_share_in_bernoulli_mode_is_the_mean(tmp_path):
    stats = _mask_and_inspect(tmp_path, "--selection-mode", "bernoulli", "--dupe-factor", "5")
    # ~0.15 * 5 * 400 * 13.5 selectable tokens ~ 4000 draws: sd ~ 0.4 % of tokens
    assert abs(stats["masked_fraction"] - stats["expected_masked_fraction"]) < 0.02
    assert stats["expected_masked_fraction"] < 0.15


def test_no_expected_share_for_whole_words_or_spans():
    rec = {
        "input_ids": np.array([1, 2, 3]),
        "masked_lm_positions": np.array([1]),
        "masked_lm_ids": np.array([2]),
    }
    assert inspect.expected_masked(rec, {"whole_word": True}) is None
    assert inspect.expected_masked(rec, {"span": True}) is None
    assert inspect.summarize([rec])["expected_masked_fraction"] is None


def _inspect_error(path, capsys):
    status = cli.main(["inspect", str(path), "--no-verify", "-n", "0"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("tf-mlm inspect: error: "), err
    return err


def test_inspect_of_a_frame_that_is_not_an_example_is_one_line(tmp_path, capsys):
    path = tmp_path / "masked-00000-of-00001.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as w:
        w.write(b"\xff\xff\xff")
    assert "record 1: not a tf.train.Example" in _inspect_error(path, capsys)


def test_inspect_of_a_truncated_gzip_shard_is_one_line(tmp_path, capsys):
    path = tmp_path / "masked-00000-of-00001.tfrecord.gz"
    with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type="GZIP")) as w:
        for i in range(200):
            record = {k: np.full(8, i % 5, np.int64) for k in records.INT_FEATURES}
            record["masked_lm_weights"] = np.ones(8, np.float32)
            w.write(records.example_bytes(record))
    path.write_bytes(path.read_bytes()[:-40])
    assert "corrupted or truncated compressed data" in _inspect_error(path, capsys)
    with pytest.raises(tfrecords.RecordError):
        list(tfrecords.iter_records(str(path)))
