"""``tf-mlm mask`` as an Apache Beam pipeline: the same records on the
DirectRunner, Dataflow, Flink or Spark (the ``tf_mlm[beam]`` extra).

The job, as PTransforms:

* :class:`ReadSequences`: every input file is read whole by one worker,
  through Beam's file systems (``gs://``, ``s3://``, ... patterns), with the
  local command's readers (text, JSON Lines, TFRecords, raw text); each
  record is numbered within its file, and the counts of the files give every
  record its global index, as the local command numbers them.
* :class:`MaskRecords`: each record becomes ``dupe_factor`` copies; record
  ``index`` of copy ``dupe`` is record ``k = dupe * records + index`` of the
  run, masked with its stateless seed
  (:func:`~tf_mlm.pretraining.masker.record_seed` of ``(seed, dupe, index)``)
  by the local command's map function, in batches inside a ``DoFn`` (the op
  library loaded once per worker, in ``setup``), and serialized.
* :class:`WriteShards`: the records are grouped by shard (``k % num_shards``),
  sorted by ``k`` within their shard, written to a staging directory beside
  the output under a temporary name, then renamed to the shard's name (a
  retried or replayed bundle rewrites the same bytes to the same name: no
  duplicate); once every shard is written, ``metadata.json`` (the local
  command's, with per-shard counts and SHA-256) is written beside them and
  the staging directory is published: on a local file system with the local
  command's atomic rename, elsewhere shard by shard with ``metadata.json``
  last. A failed job publishes nothing that ``tf-mlm inspect`` passes.

:class:`MaskCorpus` is the whole job; :func:`run_mask` builds and runs it
(``tf-mlm mask --runner``). The shards are byte for byte the local command's
for the same inputs, options and seed, whatever the runner, the workers or
the bundles. ``--shuffle-buffer`` has a different meaning on Beam (see
:func:`shuffle_key`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import time
import uuid
from typing import Dict, Iterable, List, Optional, Sequence

from tf_mlm.pretraining import pipeline, publishing, readers, records, writers
from tf_mlm.pretraining.config import MaskingConfig
from tf_mlm.pretraining.readers import InputError, ReadStats, Record, SequenceReader

EXTRA = 'pip install "tf_mlm[beam]"'

try:
    import apache_beam as beam
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
except ImportError as e:  # pragma: no cover (the beam CI job has it)
    raise ImportError(f"tf_mlm.beam needs Apache Beam: {EXTRA}") from e

SHUFFLED_ORDER = (
    "copy-major; record k of the whole run is in shard k % num_shards; within a shard, "
    "in the order of shuffle_key(seed, k) (BLAKE2b)"
)
_STAGING_TAG = ".tf-mlm-beam-"


# -- files ---------------------------------------------------------------------


def open_file(path: str):
    """``path`` opened for reading its bytes as they are (no decompression),
    through Beam's file systems: the opener of the job's readers."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def expand_inputs(patterns: Sequence[str]) -> List[str]:
    """The input files of ``patterns``: local paths as the local command
    expands them (:func:`~tf_mlm.pretraining.readers.expand_inputs`); other
    file systems' globs and directories (``gs://bucket/dir/``) by Beam's
    ``FileSystems.match``, sorted. Stdin cannot be read on Beam."""
    out: List[str] = []
    for pattern in patterns:
        if pattern == "-":
            raise InputError("stdin ('-') cannot be read on Beam: give files")
        if _is_local(pattern):
            out.extend(readers.expand_inputs([pattern]))
            continue
        files = _match(pattern)
        if not files and not FileSystems.split(pattern)[1].count("*"):
            files = _match(pattern.rstrip("/") + "/*")
        if not files:
            raise InputError(f"no input file matches {pattern}")
        out.extend(files)
    return out


def _match(pattern: str) -> List[str]:
    try:
        result = FileSystems.match([pattern])[0]
    except Exception:  # BeamIOError: nothing matched, or the file system refused
        return []
    names = (m.path for m in result.metadata_list)
    return sorted(p for p in names if not FileSystems.split(p)[1].startswith("."))


def shuffle_key(seed: int, k: int) -> int:
    """The position key of record ``k`` within its shard when the job
    shuffles (``shuffle_buffer > 1``): the first 8 bytes of the BLAKE2b
    digest of ``(seed, k)``. The local command's shuffle buffer mixes records
    within a window of the stream, which a distributed job has not; the Beam
    job instead writes each shard's records (still ``k % num_shards``) in
    the order of this key: a full shuffle within each shard, a function of
    the seed alone.

    >>> shuffle_key(1, 5) == shuffle_key(1, 5) != shuffle_key(2, 5)
    True
    """
    digest = hashlib.blake2b(
        struct.pack("<qQ", seed, k), digest_size=8, person=b"tf-mlm-shuffle"
    ).digest()
    return int.from_bytes(digest, "little")


# -- reading -------------------------------------------------------------------


class _ReadFile(beam.DoFn):
    """(file index, path) -> ("record", (file index, record index in the
    file, ids, word lengths)) for every record, then ("stats", (file index,
    ReadStats fields))."""

    def __init__(self, reader: SequenceReader, config: MaskingConfig):
        self._reader = reader
        self._config = config

    def process(self, item):
        i, path = item
        reader = copy.copy(self._reader)
        reader.inputs, reader.formats = [path], [self._reader.formats[i]]
        reader.opener = reader.opener or open_file
        length_errors = {}
        for j, rec in enumerate(reader):
            pipeline.check_record(rec, self._config, length_errors)
            yield "record", (i, j, rec.ids, rec.word_lengths)
        yield "stats", (i, dataclasses.asdict(reader.stats))


def _index(stats: List) -> Dict:
    """The first global index of every file's records, and their total."""
    offsets, total = {}, 0
    for i, fields in sorted(stats):
        offsets[i] = total
        total += fields["records"]
    return {"offsets": offsets, "records": total}


class ReadSequences(beam.PTransform):
    """PBegin -> ``(global index, ids, word lengths)`` of every record of
    ``reader``'s inputs, numbered as the local command numbers them; its
    ``stats`` (the per-file ``ReadStats`` fields) and ``index`` (offsets and
    total) PCollections are set when applied."""

    def __init__(self, reader: SequenceReader, config: MaskingConfig):
        super().__init__()
        self._reader, self._config = reader, config
        self.stats = self.index = None

    def expand(self, pbegin):
        files = (
            pbegin
            | "Files" >> beam.Create(list(enumerate(self._reader.inputs)))
            | "Spread" >> beam.Reshuffle()
        )
        read = files | "Read" >> beam.ParDo(_ReadFile(self._reader, self._config))
        found, stats = read | "Split" >> beam.Partition(lambda e, _: int(e[0] == "stats"), 2)
        self.stats = stats | "Stats" >> beam.Values()
        self.index = self.stats | "Counts" >> beam.combiners.ToList() | "Index" >> beam.Map(_index)
        return (
            found
            | "Records" >> beam.Values()
            | "Number"
            >> beam.Map(
                lambda r, index: (index["offsets"][r[0]] + r[1], r[2], r[3]),
                index=beam.pvalue.AsSingleton(self.index),
            )
        )


# -- masking -------------------------------------------------------------------


def _copies(record, index: Dict, dupe_factor: int):
    g, ids, words = record
    n = index["records"]
    for dupe in range(dupe_factor):
        yield dupe * n + g, dupe, g, ids, words


class _MaskBatch(beam.DoFn):
    """A batch of (k, dupe, index, ids, words) -> (shard, (order key, k,
    record bytes, tokens, masked (or noise) tokens, inputs tokens, targets
    tokens)), masked (or span-corrupted) by the local command's map function
    (traced once per worker)."""

    def __init__(self, config: MaskingConfig, fmt: str, num_shards: int, shuffle: bool):
        self._config, self._fmt = config, fmt
        self._num_shards, self._shuffle = num_shards, shuffle

    def setup(self):
        import tensorflow as tf

        import tf_mlm  # noqa: F401  (loads the op library once per worker)
        from tf_mlm.pretraining.masker import make_record_fn

        padded = self._padded()
        mask_fn = make_record_fn(self._config, padded)
        spec = tf.TensorSpec([None], tf.int64)

        @tf.function(input_signature=[spec] * 7)
        def mask(*packed):
            ds = pipeline.mask_chunks(tf.data.Dataset.from_tensors(packed), mask_fn)
            n = tf.size(packed[0], out_type=tf.int64)
            ds = ds.batch(n) if padded else ds.ragged_batch(n)
            return ds.get_single_element()

        self._mask = mask

    def _padded(self) -> bool:
        # as the local command: padded masked-LM features in TFRecords
        return self._fmt == "tfrecord" and self._config.objective == "mlm"

    def process(self, batch):
        chunk = [(d, g, Record(ids, words, 0, "")) for _, d, g, ids, words in batch]
        out = self._mask(*pipeline.pack(chunk))
        masked = {name: _numpy(value) for name, value in out.items()}
        padded = self._padded()
        for (k, *_), row in zip(batch, pipeline.rows_of(masked)):
            inputs = targets = 0
            if "num_noise" in row:  # span corruption
                n_masked = int(row["num_noise"])
                inputs, targets = len(row["inputs"]), len(row["targets"])
            elif padded:
                n_masked = int(row["masked_lm_weights"].sum())
            else:
                n_masked = len(row["masked_lm_positions"])
            key = shuffle_key(self._config.seed, k) if self._shuffle else k
            data = writers.record_bytes(row, self._fmt)
            counts = (int(row["num_tokens"]), n_masked, inputs, targets)
            yield k % self._num_shards, (key, k, data, *counts)


def _numpy(value):
    return value if not hasattr(value, "numpy") else value.numpy()


class MaskRecords(beam.PTransform):
    """``(global index, ids, word lengths)`` -> ``(shard, (order key, k,
    serialized record, tokens, masked tokens))`` for every copy of every
    record; ``index`` is :class:`ReadSequences`' ``index`` PCollection."""

    def __init__(
        self,
        config: MaskingConfig,
        index,
        output_format: str = "tfrecord",
        num_shards: int = 1,
        shuffle: bool = False,
        batch_size: int = 512,
    ):
        super().__init__()
        self._config, self._index, self._fmt = config, index, output_format
        self._num_shards, self._shuffle, self._batch_size = num_shards, shuffle, batch_size

    def expand(self, sequences):
        return (
            sequences
            | "Copies"
            >> beam.FlatMap(
                _copies,
                index=beam.pvalue.AsSingleton(self._index),
                dupe_factor=self._config.dupe_factor,
            )
            | "Batch"
            >> beam.BatchElements(
                min_batch_size=min(64, self._batch_size), max_batch_size=self._batch_size
            )
            | "Mask"
            >> beam.ParDo(_MaskBatch(self._config, self._fmt, self._num_shards, self._shuffle))
        )


# -- writing -------------------------------------------------------------------


class _WriteShard(beam.DoFn):
    """(shard, records) -> the shard written in order to the staging
    directory: under a name of this attempt, then renamed to the shard's
    name; yields its info (name, counts, size, SHA-256)."""

    def __init__(self, staging: str, fmt: str, compression: str, num_shards: int):
        self._staging, self._fmt, self._compression = staging, fmt, compression
        self._names = records.shard_names(num_shards, fmt, compression)

    def process(self, item):
        shard, values = item
        rows = sorted(v for v in values if v is not None)
        name = self._names[shard]
        final = FileSystems.join(self._staging, name)
        attempt = FileSystems.join(self._staging, f".{name}.{uuid.uuid4().hex}")
        local = _is_local(self._staging)
        if local:
            os.makedirs(self._staging, exist_ok=True)
        with contextlib.ExitStack() as stack:
            path = attempt
            if not local:
                tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="tf-mlm-beam-"))
                path = os.path.join(tmp, name)
            try:
                _write_file(path, self._fmt, self._compression, (r[2] for r in rows))
                if local:
                    info = publishing.digest_and_sync(path)
                    os.replace(path, final)
                else:
                    info = _upload(path, attempt)
                    if FileSystems.exists(final):
                        FileSystems.delete([final])
                    FileSystems.rename([attempt], [final])
            except BaseException:
                with contextlib.suppress(Exception):
                    FileSystems.delete([attempt])
                raise
        yield dict(
            info,
            shard=shard,
            name=name,
            records=len(rows),
            tokens=sum(r[3] for r in rows),
            masked=sum(r[4] for r in rows),
            inputs=sum(r[5] for r in rows),
            targets=sum(r[6] for r in rows),
        )


def _write_file(path: str, fmt: str, compression: str, data: Iterable[bytes]) -> None:
    """One shard's records, written as the local command writes them."""
    layers = writers.open_shard(path, fmt, compression)
    try:
        for item in data:
            layers[0].write(item)
    finally:
        for f in layers:
            f.close()


def _upload(path: str, dest: str) -> Dict:
    """Copies the local file ``path`` to ``dest`` on Beam's file systems;
    its SHA-256 and size."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as src:
        with FileSystems.create(dest, compression_type=CompressionTypes.UNCOMPRESSED) as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
                out.write(block)
    return {"sha256": digest.hexdigest(), "bytes": size}


def staging_dir(output_dir: str) -> str:
    """A new staging directory beside ``output_dir`` (hidden, named for
    the job)."""
    if _is_local(output_dir):
        out = os.path.realpath(output_dir)
        return os.path.join(
            os.path.dirname(out), f".{os.path.basename(out)}{_STAGING_TAG}{uuid.uuid4().hex}"
        )
    return output_dir.rstrip("/") + f"{_STAGING_TAG}{uuid.uuid4().hex}"


@dataclasses.dataclass
class _Publication:
    """What the publishing step needs besides the shards."""

    output_dir: str
    staging: str
    config: MaskingConfig
    output_format: str
    compression: str
    num_shards: int
    overwrite: bool
    order: str
    extra_metadata: Dict


class _Publish(beam.DoFn):
    """Runs once, after every shard is written (its side inputs): checks
    that every shard is there with its count, writes ``metadata.json`` and
    publishes the staging directory."""

    def __init__(self, publication: _Publication):
        self._p = publication

    def process(self, _, infos, stats, index):
        p = self._p
        by_shard = {info["shard"]: info for info in infos}  # a replayed shard counts once
        names = records.shard_names(p.num_shards, p.output_format, p.compression)
        total = index["records"] * p.config.dupe_factor
        for k, name in enumerate(names):
            expected = writers.shard_records(total, p.num_shards, k)
            got = by_shard.get(k, {}).get("records")
            if got != expected:
                raise RuntimeError(f"shard {name}: {got} records written, {expected} expected")
        read = ReadStats()
        for _, fields in stats:
            for field, value in fields.items():
                setattr(read, field, getattr(read, field) + value)
        summary = pipeline.run_summary(
            read,
            p.config,
            names,
            p.output_format,
            p.compression,
            total,
            sum(by_shard[k]["tokens"] for k in by_shard),
            sum(by_shard[k]["masked"] for k in by_shard),
            sum(by_shard[k]["inputs"] for k in by_shard),
            sum(by_shard[k]["targets"] for k in by_shard),
            order=p.order,
        )
        summary.update(p.extra_metadata)
        summary["shard_info"] = [
            {key: by_shard[k][key] for key in ("name", "records", "sha256", "bytes")}
            for k in range(p.num_shards)
        ]
        _publish(p, summary)
        yield summary


def _publish(p: _Publication, metadata: Dict) -> None:
    if _published(p.output_dir, metadata):  # a retried publishing step
        return
    if _is_local(p.staging):
        publishing.write_json(os.path.join(p.staging, records.METADATA), metadata)
        publishing.fsync_dir(p.staging)
        old = writers.publish_directory(p.staging, p.output_dir, p.overwrite)
        if old is not None:
            publishing.discard_previous(old)
        return
    # No atomic directory rename: the shards first, metadata.json (which
    # marks a complete dataset) last, after the previous one is removed.
    out = p.output_dir.rstrip("/")
    previous = _previous_outputs(out)
    if previous and not p.overwrite:
        raise InputError(f"output directory {p.output_dir} already holds tf-mlm output")
    meta = FileSystems.join(out, records.METADATA)
    if meta in previous:
        FileSystems.delete([meta])
        previous.remove(meta)
    if previous:
        FileSystems.delete(previous)
    names = metadata["shards"]
    with contextlib.suppress(Exception):  # object stores have no directories
        FileSystems.mkdirs(out)
    FileSystems.rename(
        [FileSystems.join(p.staging, n) for n in names], [FileSystems.join(out, n) for n in names]
    )
    with FileSystems.create(meta, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write((json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    FileSystems.delete([p.staging])


def _previous_outputs(output_dir: str) -> List[str]:
    """The shards and metadata.json in ``output_dir`` (on any file system)."""
    files = _match(output_dir.rstrip("/") + "/*")
    return [f for f in files if records.is_output_file(FileSystems.split(f)[1])]


def _published(output_dir: str, metadata: Dict) -> bool:
    """Whether ``output_dir`` holds this very dataset already."""
    try:
        return _read_metadata(output_dir) == json.loads(json.dumps(metadata))
    except Exception:  # no metadata.json (yet), or unreadable: not published
        return False


class WriteShards(beam.PTransform):
    """:class:`MaskRecords`' output -> the published dataset: the shards in
    ``staging`` (see :func:`staging_dir`), then ``metadata.json``, then the
    rename onto ``output_dir``. Its output is the run's summary (one
    element, the metadata)."""

    def __init__(
        self,
        output_dir: str,
        staging: str,
        config: MaskingConfig,
        stats,
        index,
        output_format: str = "tfrecord",
        num_shards: int = 1,
        compression: str = "",
        overwrite: bool = False,
        order: str = pipeline.ORDER,
        extra_metadata: Optional[Dict] = None,
    ):
        super().__init__()
        self._stats, self._index = stats, index
        self._p = _Publication(
            output_dir,
            staging,
            config,
            output_format,
            compression,
            num_shards,
            overwrite,
            order,
            dict(extra_metadata or {}),
        )

    def expand(self, masked):
        p = self._p
        every_shard = masked.pipeline | "Shards" >> beam.Create(
            [(k, None) for k in range(p.num_shards)]
        )
        infos = (
            (masked, every_shard)
            | "AllShards" >> beam.Flatten()
            | "ByShard" >> beam.GroupByKey()
            | "Write"
            >> beam.ParDo(_WriteShard(p.staging, p.output_format, p.compression, p.num_shards))
        )
        return (
            masked.pipeline
            | "Once" >> beam.Create([None])
            | "Publish"
            >> beam.ParDo(
                _Publish(p),
                infos=beam.pvalue.AsList(infos),
                stats=beam.pvalue.AsList(self._stats),
                index=beam.pvalue.AsSingleton(self._index),
            )
        )


class MaskCorpus(beam.PTransform):
    """The whole ``tf-mlm mask`` job: PBegin -> the published dataset in
    ``output_dir`` (a one-element PCollection of its metadata).

    Args:
      reader: the inputs (expanded: :func:`expand_inputs`) and the reading
        options, as for the local command; its formats are resolved when it
        is made.
      config: the masking options (validated here).
      staging: the staging directory (default: a new :func:`staging_dir`).
      shuffle: write each shard in the order of :func:`shuffle_key`.
      batch_size: most records masked per ``DoFn`` call.
      Others: as :func:`tf_mlm.pretraining.run_mask`.
    """

    def __init__(
        self,
        reader: SequenceReader,
        config: MaskingConfig,
        output_dir: str,
        *,
        output_format: str = "tfrecord",
        num_shards: int = 1,
        compression: str = "",
        overwrite: bool = False,
        shuffle: bool = False,
        staging: Optional[str] = None,
        batch_size: int = 512,
        extra_metadata: Optional[Dict] = None,
    ):
        super().__init__()
        config.validate()
        if output_format not in records.FORMATS:
            raise ValueError(f"output format must be one of {records.FORMATS}")
        if compression not in records.COMPRESSIONS:
            raise ValueError(f"compression must be one of {records.COMPRESSIONS}")
        if num_shards < 1:
            raise ValueError(f"number of shards must be >= 1, got {num_shards}")
        if "-" in reader.inputs:
            raise InputError("stdin ('-') cannot be read on Beam: give files")
        self._reader, self._config, self._output_dir = reader, config, output_dir
        self._fmt, self._num_shards, self._compression = output_format, num_shards, compression
        self._overwrite, self._shuffle, self._batch_size = overwrite, shuffle, batch_size
        self.staging = staging or staging_dir(output_dir)
        self._extra = extra_metadata

    def expand(self, pbegin):
        read = ReadSequences(self._reader, self._config)
        sequences = pbegin | "ReadSequences" >> read
        masked = sequences | "MaskRecords" >> MaskRecords(
            self._config,
            read.index,
            self._fmt,
            self._num_shards,
            self._shuffle,
            self._batch_size,
        )
        return masked | "WriteShards" >> WriteShards(
            self._output_dir,
            self.staging,
            self._config,
            read.stats,
            read.index,
            self._fmt,
            self._num_shards,
            self._compression,
            self._overwrite,
            SHUFFLED_ORDER if self._shuffle else pipeline.ORDER,
            self._extra,
        )


# -- running -------------------------------------------------------------------


def run_mask(
    reader: SequenceReader,
    config: MaskingConfig,
    output_dir: str,
    *,
    output_format: str = "tfrecord",
    num_shards: int = 1,
    compression: str = "",
    overwrite: bool = False,
    shuffle_buffer: int = 0,
    batch_size: int = 512,
    extra_metadata: Optional[Dict] = None,
    runner: str = "DirectRunner",
    pipeline_args: Sequence[str] = (),
) -> Dict:
    """:func:`tf_mlm.pretraining.run_mask` on Beam: builds the
    :class:`MaskCorpus` pipeline, runs it on ``runner`` with the
    ``pipeline_args`` (Beam's pipeline options) and waits for it. Returns the
    summary stored in ``metadata.json`` (and ``seconds``). A failed job
    leaves no staging directory behind (when it can still be removed) and
    nothing published; an input error is raised as :class:`InputError`."""
    from apache_beam.options.pipeline_options import PipelineOptions

    if _is_local(output_dir):
        writers.check_output_dir(output_dir, overwrite)
    elif not overwrite and _previous_outputs(output_dir):
        raise InputError(
            f"output directory {output_dir} already holds tf-mlm output (use --overwrite "
            "to replace it)"
        )
    options = PipelineOptions(list(pipeline_args), runner=runner)
    job = MaskCorpus(
        reader,
        config,
        output_dir,
        output_format=output_format,
        num_shards=num_shards,
        compression=compression,
        overwrite=overwrite,
        shuffle=shuffle_buffer > 1,
        batch_size=batch_size,
        extra_metadata=extra_metadata,
    )
    start = time.perf_counter()
    result = None
    try:
        with writers.cancellable(_Staging(job.staging, output_dir)):
            p = beam.Pipeline(options=options)
            _ = p | "MaskCorpus" >> job
            result = p.run()
            result.wait_until_finish()
    except BaseException as e:
        if result is not None:  # a job on a service keeps running unless cancelled
            with contextlib.suppress(Exception):
                result.cancel()
        _remove(job.staging)
        raise _input_error(e) or e
    _remove(job.staging)  # gone once published; a replaced dataset may remain
    summary = _read_metadata(output_dir)
    summary["seconds"] = time.perf_counter() - start
    return summary


class _Staging:
    """A running job's staging directory, for ``tf-mlm mask``'s interrupt
    handler (:func:`tf_mlm.pretraining.writers.cancel_all`): removed on
    cancel, unless the job has published already."""

    def __init__(self, staging: str, output_dir: str):
        self.staging, self.output_dir = staging, output_dir
        self.started = time.time()

    def cancel(self, timeout: float = 1.0) -> str:
        if FileSystems.exists(self.staging):
            _remove(self.staging)
            return "removed"
        try:
            meta = FileSystems.join(self.output_dir, records.METADATA)
            published = FileSystems.last_updated(meta) >= self.started
        except Exception:  # no metadata.json
            published = False
        return "published" if published else "removed"


def _remove(path: str) -> None:
    with contextlib.suppress(Exception):
        if _is_local(path):
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
        elif FileSystems.exists(path):
            FileSystems.delete([path])


_INPUT_ERROR = re.compile(r"InputError: (.+?)(?: \[while running [^\]]*\])*$", re.M)


def _input_error(e: BaseException) -> Optional[InputError]:
    """The input error a failed job carries (raised by a worker, wrapped
    by the runner), as one :class:`InputError` with the worker's message."""
    if isinstance(e, InputError):
        text = str(e)
    else:
        match = _INPUT_ERROR.search(str(e))
        if match is None:
            return None
        text = match.group(1)
    return InputError(re.sub(r"(?: \[while running [^\]]*\])+$", "", text.strip()))


def _read_metadata(output_dir: str) -> Dict:
    path = FileSystems.join(output_dir, records.METADATA)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return json.loads(f.read().decode("utf-8"))


__all__ = [
    "EXTRA",
    "MaskCorpus",
    "MaskRecords",
    "ReadSequences",
    "WriteShards",
    "expand_inputs",
    "open_file",
    "run_mask",
    "shuffle_key",
    "staging_dir",
]
