"""``tf-mlm mask --runner`` / :mod:`tf_mlm.beam` against the local command:
the same files, byte for byte (shards and metadata.json), on Beam's
DirectRunner in-process and with two worker processes; shuffling, retried
bundles, failed jobs and input errors.

apache-beam is the ``beam`` extra: tests/beam_job.sh installs it in a venv
of its own and sets ``TF_MLM_BEAM_TESTS=required``, under which a missing
apache-beam is an error, not a skip.
"""

import importlib.util
import json
import os
import random
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_mlm import cli
from tf_mlm.pretraining import inspect, tfrecords, writers

REQUIRED = os.environ.get("TF_MLM_BEAM_TESTS") == "required"
HAVE_BEAM = importlib.util.find_spec("apache_beam") is not None
if REQUIRED and not HAVE_BEAM:
    raise ImportError("TF_MLM_BEAM_TESTS=required but apache-beam is not installed")
needs_beam = pytest.mark.skipif(
    not HAVE_BEAM, reason="apache-beam is not installed (see tests/beam_job.sh)"
)

VOCAB = 120
MASK = 3
MULTI = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def _sequences(n, seed, max_len=40):
    rng = random.Random(seed)
    return [[rng.randrange(5, VOCAB) for _ in range(rng.randrange(0, max_len))] for _ in range(n)]


def _text(path, n, seed):
    with open(path, "w") as f:
        for ids in _sequences(n, seed):
            f.write(" ".join(map(str, ids)) + "\n")
    return str(path)


def _jsonl_words(path, n, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for ids in _sequences(n, seed):
            words, i = [], 0
            while i < len(ids):
                w = rng.randrange(1, 4)
                words.append(ids[i : i + w])
                i += w
            f.write(json.dumps(words) + "\n")
    return str(path)


def _tfrecord(path, n, seed):
    with tf.io.TFRecordWriter(str(path)) as w:
        for ids in _sequences(n, seed):
            feature = {"input_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=ids))}
            w.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    return str(path)


def _mask(inputs, out, *options, runner=None, capsys=None):
    argv = ["mask", *inputs, "-o", str(out), "--vocab-size", str(VOCAB), "--mask-token"]
    argv += [str(MASK), "--max-seq-length", "32", "--max-predictions-per-seq", "6"]
    argv += ["--progress", "none", *options]
    if runner is not None:
        argv += ["--runner", *runner]
    status = cli.main(argv)
    if capsys is not None:
        capsys.readouterr()
    return status


def _files(directory):
    return {n: open(os.path.join(directory, n), "rb").read() for n in sorted(os.listdir(directory))}


def _same_as_local(tmp_path, inputs, options, runner=(), capsys=None, before_beam=None):
    assert _mask(inputs, tmp_path / "local", *options, capsys=capsys) == 0
    if before_beam is not None:
        before_beam()
    assert _mask(inputs, tmp_path / "beam", *options, runner=list(runner), capsys=capsys) == 0
    local, on_beam = _files(tmp_path / "local"), _files(tmp_path / "beam")
    assert sorted(local) == sorted(on_beam)
    for name in local:
        assert local[name] == on_beam[name], name
    meta = inspect.verify_output(str(tmp_path / "beam"))
    assert meta["records"] == sum(e["records"] for e in meta["shard_info"]) > 0
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no staging left
    return meta


CASES = {
    "text, 1 shard": ("text", ["--seed", "7"]),
    "jsonl words, 3 shards, dupe 2, whole words": (
        "jsonl",
        ["--num-shards", "3", "--dupe-factor", "2", "--whole-word"],
    ),
    "tfrecord, 2 shards, spans, gzip": (
        "tfrecord",
        ["--num-shards", "2", "--span", "--compression", "gzip"],
    ),
    "text, 4 shards, dupe 3, bernoulli, jsonl output": (
        "text",
        ["--num-shards", "4", "--dupe-factor", "3", "--selection-mode", "bernoulli"]
        + ["--output-format", "jsonl"],
    ),
    "jsonl, 2 shards, whole words, spans, gzipped jsonl output": (
        "jsonl",
        ["--num-shards", "2", "--whole-word", "--span", "--output-format", "jsonl"]
        + ["--compression", "gzip", "--long-sequences", "skip"],
    ),
}
_WRITERS = {
    "text": (_text, ".txt"),
    "jsonl": (_jsonl_words, ".jsonl"),
    "tfrecord": (_tfrecord, ".tfrecord"),
}


@needs_beam
@pytest.mark.parametrize("case", list(CASES))
def test_in_process_records_are_the_local_commands(tmp_path, capsys, case):
    fmt, options = CASES[case]
    write, ext = _WRITERS[fmt]
    inputs = [write(tmp_path / f"in{i}{ext}", n, seed=i) for i, n in enumerate((30, 0, 45))]
    _same_as_local(tmp_path, inputs, options, capsys=capsys)


@needs_beam
@pytest.mark.parametrize("runner", [[], MULTI], ids=["in-process", "two-processes"])
@pytest.mark.parametrize("output_format", ["tfrecord", "jsonl"])
def test_span_corruption_gives_the_local_commands_records(tmp_path, capsys, runner, output_format):
    rng = random.Random(5)
    inputs = []
    for i, n in enumerate((25, 40)):
        path = tmp_path / f"in{i}.txt"
        path.write_text(
            "".join(
                " ".join(str(rng.randrange(5, VOCAB)) for _ in range(rng.randrange(8, 40))) + "\n"
                for _ in range(n)
            )
        )
        inputs.append(str(path))
    argv = [*inputs, "--vocab-size", "1000", "--objective", "span-corruption"]
    argv += ["--max-seq-length", "32", "--num-shards", "3", "--dupe-factor", "2"]
    argv += ["--noise-density", "0.3", "--output-format", output_format, "--progress", "none"]
    for out, extra in (("local", []), ("beam", ["--runner", *runner])):
        assert cli.main(["mask", *argv, "-o", str(tmp_path / out), *extra]) == 0
    capsys.readouterr()
    local, on_beam = _files(tmp_path / "local"), _files(tmp_path / "beam")
    assert sorted(local) == sorted(on_beam)
    for name in local:
        assert local[name] == on_beam[name], name
    meta = inspect.verify_output(str(tmp_path / "beam"))
    assert meta["objective"] == "span_corruption" and meta["records"] == 2 * 65
    assert meta["noise_tokens"] > 0 and meta["inputs_tokens"] > 0


DEMO_VOCAB = os.path.join(os.path.dirname(cli.__file__), "..", "data", "demo_vocab.txt")


def _raw_text(path, n_docs, seed):
    words = [w for w in open(DEMO_VOCAB).read().split() if w.isalpha()]
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n_docs):
            for _ in range(rng.randrange(1, 6)):
                f.write(" ".join(rng.choice(words) for _ in range(rng.randrange(3, 25))) + ".\n")
            f.write("\n")
    return str(path)


@needs_beam
@pytest.mark.parametrize("whole_word", [[], ["--whole-word"]], ids=["tokens", "whole words"])
def test_raw_text_and_vocabulary_words_give_the_local_commands_records(
    tmp_path, capsys, whole_word
):
    if not REQUIRED:  # tests/beam_job.sh installs it
        pytest.importorskip("tokenizers", reason="raw text needs the text extra")
    inputs = [_raw_text(tmp_path / f"raw{i}.txt", 20, i) for i in range(2)]
    inputs.append(_text(tmp_path / "ids.ids", 30, 3))  # ids: words from the ## pieces
    options = ["--vocab", DEMO_VOCAB, "--vocab-size", "190", "--num-shards", "2"]
    meta = _same_as_local(
        tmp_path, inputs, options + ["--dupe-factor", "2"] + whole_word, capsys=capsys
    )
    assert meta["input_formats"] == ["raw", "raw", "text"]


@needs_beam
def test_two_worker_processes_write_the_local_commands_records(tmp_path, capsys):
    inputs = [
        _text(tmp_path / "a.txt", 60, 1),
        _jsonl_words(tmp_path / "b.jsonl", 50, 2),
        _tfrecord(tmp_path / "c.tfrecord", 40, 3),
    ]
    meta = _same_as_local(
        tmp_path, inputs, ["--num-shards", "3", "--dupe-factor", "2"], MULTI, capsys
    )
    assert meta["input_formats"] == ["text", "jsonl", "tfrecord"]


@needs_beam
def test_records_do_not_depend_on_bundles_or_batches(tmp_path):
    from tf_mlm import beam as tb
    from tf_mlm.pretraining import readers
    from tf_mlm.pretraining.config import MaskingConfig

    inputs = [_text(tmp_path / f"in{i}.txt", 70, i) for i in range(3)]
    config = MaskingConfig(VOCAB, MASK, max_seq_length=32, dupe_factor=2)
    out = {}
    for batch in (1, 7, 512):
        reader = readers.SequenceReader(inputs, vocab_size=VOCAB, max_seq_length=32)
        tb.run_mask(reader, config, str(tmp_path / f"b{batch}"), num_shards=3, batch_size=batch)
        out[batch] = _files(tmp_path / f"b{batch}")
    assert out[1] == out[7] == out[512]


def _shard_records(directory, names):
    return [list(tfrecords.iter_records(os.path.join(directory, n))) for n in names]


@needs_beam
def test_shuffle_orders_each_shard_by_the_seeded_key(tmp_path, capsys):
    from tf_mlm import beam as tb

    inputs = [_text(tmp_path / "in.txt", 80, 5)]
    options = ["--num-shards", "3", "--dupe-factor", "2", "--seed", "11"]
    assert _mask(inputs, tmp_path / "plain", *options, capsys=capsys) == 0
    for name, runner in (("one", []), ("two", MULTI)):
        out = tmp_path / name
        assert _mask(inputs, out, *options, "--shuffle-buffer", "50", runner=runner) == 0
    capsys.readouterr()
    names = writers.shard_names(3, "tfrecord")
    plain = _shard_records(tmp_path / "plain", names)
    expected = []
    for shard, recs in enumerate(plain):
        ks = [position * 3 + shard for position in range(len(recs))]
        order = sorted(range(len(recs)), key=lambda i: tb.shuffle_key(11, ks[i]))
        expected.append([recs[i] for i in order])
    assert _shard_records(tmp_path / "one", names) == expected
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    assert expected != plain
    meta = inspect.verify_output(str(tmp_path / "one"))
    assert "shuffle_key" in meta["order"]


class _FailingClose:
    def __init__(self, layer, fail):
        self._layer, self._fail = layer, fail

    def write(self, data):
        self._layer.write(data)

    def close(self):
        self._layer.close()
        if self._fail:
            raise RuntimeError("worker lost after writing part of a shard")


@needs_beam
def test_a_bundle_retried_after_a_partial_write_leaves_no_duplicate(tmp_path, capsys, monkeypatch):
    # The bundle-based DirectRunner retries a failed bundle (up to 4 times).
    opened = []
    real = writers.open_shard

    def flaky(path, fmt, compression=""):
        name = os.path.basename(path).split(".")[1]
        first = name not in opened
        opened.append(name)
        layers = real(path, fmt, compression)
        return (_FailingClose(layers[0], first),) + layers[1:]

    inputs = [_text(tmp_path / "in.txt", 50, 9)]
    meta = _same_as_local(
        tmp_path,
        inputs,
        ["--num-shards", "2", "--dupe-factor", "2"],
        ["BundleBasedDirectRunner"],
        capsys,
        before_beam=lambda: monkeypatch.setattr(writers, "open_shard", flaky),
    )
    assert sorted(set(opened)) == ["masked-00000-of-00002", "masked-00001-of-00002"]
    assert len(opened) > 2  # every shard failed once, then was written again
    assert meta["records"] == 2 * meta["input_records"]


@needs_beam
def test_a_failed_job_publishes_nothing(tmp_path, monkeypatch):
    from tf_mlm import beam as tb
    from tf_mlm.pretraining import readers
    from tf_mlm.pretraining.config import MaskingConfig

    def broken(path, fmt, compression=""):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers, "open_shard", broken)
    reader = readers.SequenceReader([_text(tmp_path / "in.txt", 20, 1)], vocab_size=VOCAB)
    with pytest.raises(Exception, match="No space left on device"):
        tb.run_mask(reader, MaskingConfig(VOCAB, MASK), str(tmp_path / "out"), num_shards=2)
    assert sorted(os.listdir(tmp_path)) == ["in.txt"]  # no output, no staging directory


@needs_beam
def test_an_interrupt_removes_the_staging_directory(tmp_path, monkeypatch):
    # tf-mlm mask's SIGINT / SIGTERM handler calls writers.cancel_all().
    from tf_mlm import beam as tb
    from tf_mlm.pretraining import readers
    from tf_mlm.pretraining.config import MaskingConfig

    monkeypatch.setattr(writers, "_CANCELLED", False)
    states = []
    real = writers.open_shard

    def interrupted(path, fmt, compression=""):
        layers = real(path, fmt, compression)
        if not states:
            assert os.path.isdir(os.path.dirname(path))
            states.extend(writers.cancel_all())
        return layers

    monkeypatch.setattr(writers, "open_shard", interrupted)
    reader = readers.SequenceReader([_text(tmp_path / "in.txt", 20, 1)], vocab_size=VOCAB)
    with pytest.raises(Exception):
        tb.run_mask(reader, MaskingConfig(VOCAB, MASK), str(tmp_path / "out"), num_shards=2)
    assert states == ["removed"]
    assert sorted(os.listdir(tmp_path)) == ["in.txt"]


@needs_beam
@pytest.mark.parametrize("runner", [[], MULTI], ids=["in-process", "two-processes"])
def test_an_input_error_fails_the_job_naming_file_and_line(tmp_path, capsys, runner):
    good = _text(tmp_path / "good.txt", 10, 1)
    bad = tmp_path / "bad.txt"
    bad.write_text("5 6 7\n8 9\n10 x 12\n")
    status = _mask([good, str(bad)], tmp_path / "out", runner=runner)
    err = capsys.readouterr().err
    assert status == 2
    assert f"{bad}:3: 'x' is not an integer id" in err
    assert err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["bad.txt", "good.txt"]


@needs_beam
def test_overwrite_replaces_the_dataset_and_keeps_other_files(tmp_path, capsys):
    inputs = [_text(tmp_path / "in.txt", 30, 4)]
    out = tmp_path / "out"
    assert _mask(inputs, out, "--num-shards", "3", runner=[]) == 0
    (out / "README").write_text("mine")
    assert _mask(inputs, out, "--num-shards", "2", "--seed", "5", runner=[]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert _mask(inputs, out, "--num-shards", "2", "--seed", "5", "--overwrite", runner=[]) == 0
    assert _mask(inputs, tmp_path / "local", "--num-shards", "2", "--seed", "5") == 0
    capsys.readouterr()
    assert _files(out) == dict(_files(tmp_path / "local"), README=b"mine")
    assert inspect.verify_output(str(out))["masking"]["seed"] == 5
    assert sorted(os.listdir(tmp_path)) == ["in.txt", "local", "out"]


@needs_beam
def test_other_file_systems_publish_shards_then_metadata(tmp_path, monkeypatch):
    # The path taken for gs:// and the like (no atomic directory rename):
    # shards written locally and copied through Beam's file systems, renamed
    # into the output, metadata.json last; exercised here on local paths.
    from tf_mlm import beam as tb
    from tf_mlm.pretraining import pipeline, readers
    from tf_mlm.pretraining.config import MaskingConfig

    inputs = [_jsonl_words(tmp_path / "in.jsonl", 40, 6)]
    config = MaskingConfig(VOCAB, MASK, max_seq_length=32, dupe_factor=2, whole_word=True)
    reader = readers.SequenceReader(inputs, vocab_size=VOCAB, max_seq_length=32)
    pipeline.run_mask(reader, config, str(tmp_path / "local"), num_shards=3, compression="gzip")
    monkeypatch.setattr(tb, "_is_local", lambda path: False)
    for _ in range(2):  # the second time over the first, with overwrite
        tb.run_mask(
            readers.SequenceReader(
                inputs, vocab_size=VOCAB, max_seq_length=32, opener=tb.open_file
            ),
            config,
            str(tmp_path / "remote"),
            num_shards=3,
            compression="gzip",
            overwrite=True,
        )
        assert _files(tmp_path / "remote") == _files(tmp_path / "local")
    inspect.verify_output(str(tmp_path / "remote"))
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl", "local", "remote"]


@needs_beam
def test_whole_words_without_words_is_the_local_commands_error(tmp_path, capsys):
    inputs = [_text(tmp_path / "ids.txt", 5, 1)]
    errors = []
    for runner in (None, []):
        assert _mask(inputs, tmp_path / "out", "--whole-word", runner=runner) == 2
        errors.append(capsys.readouterr().err)
    assert errors[0] == errors[1]
    assert f"{inputs[0]}:1: --whole-word needs words" in errors[1]
    assert sorted(os.listdir(tmp_path)) == ["ids.txt"]


@needs_beam
def test_stdin_is_refused_on_beam(tmp_path, capsys):
    assert _mask(["-"], tmp_path / "out", runner=[]) == 2
    assert "stdin ('-') cannot be read on Beam" in capsys.readouterr().err


@needs_beam
@pytest.mark.parametrize(
    "runner, name, options",
    [
        ([], "DirectRunner", ["--default_sdk_harness_log_level=WARNING"]),
        (
            ["DataflowRunner", "--project", "p", "--region=r"],
            "DataflowRunner",
            ["--project", "p", "--region=r", "--default_sdk_harness_log_level=WARNING"],
        ),
        (
            ["--default_sdk_harness_log_level=DEBUG", "--num_workers", "3"],
            "DirectRunner",
            ["--default_sdk_harness_log_level=DEBUG", "--num_workers", "3"],
        ),
    ],
)
def test_arguments_after_runner_are_beams_pipeline_options(
    tmp_path, monkeypatch, runner, name, options
):
    from tf_mlm import beam as tb

    seen = {}

    def fake_run_mask(reader, config, output_dir, **kwargs):
        seen.update(kwargs, output_dir=output_dir)
        counts = ("records", "input_records", "tokens", "masked_tokens", "truncated")
        zeros = dict.fromkeys(counts + ("skipped_long", "skipped_empty"), 0)
        return dict(zeros, shards=[], seconds=1.0)

    monkeypatch.setattr(tb, "run_mask", fake_run_mask)
    _mask([_text(tmp_path / "in.txt", 5, 1)], tmp_path / "out", "--num-shards", "2", runner=runner)
    assert seen["runner"] == name
    assert seen["pipeline_args"] == options
    assert seen["num_shards"] == 2 and seen["output_dir"] == str(tmp_path / "out")


def test_a_tf_mlm_option_after_runner_is_a_usage_error(tmp_path, capsys):
    # Beam would drop an option it does not know with a log line only.
    with pytest.raises(SystemExit) as exit_:
        _mask([_text(tmp_path / "in.txt", 5, 1)], tmp_path / "out", runner=["--num-shards=8"])
    err = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2 and len(err) == 1, err
    assert err[0].startswith("tf-mlm mask: error: --num-shards is an option of tf-mlm mask: ")
    assert not (tmp_path / "out").exists()


def _hide_beam(monkeypatch):
    import tf_mlm

    monkeypatch.setitem(sys.modules, "apache_beam", None)
    monkeypatch.delitem(sys.modules, "tf_mlm.beam", raising=False)
    monkeypatch.delattr(tf_mlm, "beam", raising=False)


def test_without_apache_beam_the_error_names_the_extra(monkeypatch):
    _hide_beam(monkeypatch)
    with pytest.raises(
        ImportError, match=r'^tf_mlm.beam needs Apache Beam: pip install "tf_mlm\[beam\]"$'
    ):
        importlib.import_module("tf_mlm.beam")


def test_without_apache_beam_runner_is_a_usage_error(tmp_path, capsys, monkeypatch):
    _hide_beam(monkeypatch)
    status = _mask([_text(tmp_path / "in.txt", 5, 1)], tmp_path / "out", runner=[])
    assert status == 2
    assert capsys.readouterr().err == (
        'tf-mlm mask: error: --runner: tf_mlm.beam needs Apache Beam: pip install "tf_mlm[beam]"\n'
    )
    assert not (tmp_path / "out").exists()


def test_no_runner_changes_nothing():
    from tf_mlm.cli import arguments

    assert arguments.split_runner_args(["mask", "x", "-o", "y"]) == (["mask", "x", "-o", "y"], [])
    assert arguments.split_runner_args(["mask", "x", "--runner=FlinkRunner", "--a=1"]) == (
        ["mask", "x", "--runner=FlinkRunner"],
        ["--a=1"],
    )
    args = cli._parse(["mask", "x", "-o", "y", "--vocab-size", "5"])
    assert args.runner is None and args.pipeline_args == []
    args = cli._parse(["mask", "x", "-o", "y", "--runner", "--direct_num_workers=2"])
    assert args.runner == "DirectRunner" and args.pipeline_args == ["--direct_num_workers=2"]
    np.testing.assert_equal(args.inputs, ["x"])
