"""The ``tf-mlm mask`` pipeline: sequences -> ``tf.data`` -> parallel,
deterministic masking (or T5 span corruption) -> sharded output.

Every output record is a pure function of ``(seed, dupe index, record
index, sequence)``: its stateless masking seed is derived from those with
:func:`record_seed`, and records are masked one per map call with
``deterministic=True``, so the output does not depend on
``num_parallel_calls``, on the number of shards or on the machine.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional

import numpy as np

from tf_mlm.pretraining import writers as writers_lib

# SELECTION_MODES, MaskingConfig and record_seed were defined here: still importable.
from tf_mlm.pretraining.config import (  # noqa: F401
    SELECTION_MODES,
    MaskingConfig,
    SpanCorruptionConfig,
)
from tf_mlm.pretraining.masker import make_mask_fn, make_record_fn, record_seed  # noqa: F401
from tf_mlm.pretraining.readers import InputError, SequenceReader


class _ErrorHolder:
    """Carries an exception raised inside the tf.data generator out to the
    consumer, where it is re-raised as itself rather than as a TF error."""

    error: Optional[BaseException] = None


def build_dataset(
    reader: SequenceReader,
    config: MaskingConfig,
    padded: bool = True,
    num_parallel_calls: Optional[int] = None,
    shuffle_buffer: int = 0,
    holder: Optional[_ErrorHolder] = None,
    batch_size: int = 256,
):
    """The masked (or span-corrupted, for a :class:`SpanCorruptionConfig`)
    ``tf.data.Dataset``, in batches of ``batch_size`` records (dense when
    ``padded``, ragged otherwise; span corruption is never padded); records
    in copy-major order (every record of copy 0, then of copy 1, ...),
    optionally shuffled with a buffer seeded by ``config.seed``.

    Python hands the records to TensorFlow in chunks and takes the results
    back in batches (per-element Python costs dominate otherwise); the
    masking itself runs one record per map call, with the record's own
    stateless seed, so neither the chunking, the batching nor the map's
    parallelism changes any record.
    """
    import tensorflow as tf

    holder = holder or _ErrorHolder()
    # The records of copy 0 are kept for the later copies when the input
    # cannot be read again (stdin) or is costly to read again (raw text,
    # tokenized once; up to _CACHE_TOKENS tokens, else it is read again).
    stdin, raw = "-" in reader.inputs, "raw" in reader.formats
    keep = config.dupe_factor > 1 and (stdin or raw)

    span_lengths: Dict[int, Optional[str]] = {}  # span corruption: length -> error

    def records():
        cache: Optional[List] = [] if keep else None
        tokens = 0
        for dupe in range(config.dupe_factor):
            source = cache if cache is not None and dupe > 0 else reader
            for index, rec in enumerate(source):
                if cache is not None and dupe == 0:
                    cache.append(rec)
                    tokens += len(rec.ids)
                    if not stdin and tokens > _CACHE_TOKENS:
                        cache = None
                check_record(rec, config, span_lengths)
                yield dupe, index, rec

    def chunks():
        try:
            chunk: List = []
            for item in records():
                chunk.append(item)
                if len(chunk) == _CHUNK:
                    yield pack(chunk)
                    chunk = []
            if chunk:
                yield pack(chunk)
        except BaseException as e:
            holder.error = e
            raise

    scalars = tf.TensorSpec([None], tf.int64)
    ds = tf.data.Dataset.from_generator(chunks, output_signature=(scalars,) * 7)
    ds = mask_chunks(ds, make_record_fn(config, padded), num_parallel_calls)
    if shuffle_buffer > 1:
        ds = ds.shuffle(shuffle_buffer, seed=config.seed % (2**31), reshuffle_each_iteration=False)
    ds = ds.batch(batch_size) if padded else ds.ragged_batch(batch_size)
    return ds.prefetch(2)


_CHUNK = 256
_CACHE_TOKENS = 1 << 26  # about 1 GB of raw-text records


def check_record(rec, config, length_errors: Dict[int, Optional[str]]) -> None:
    """Raises :class:`InputError` for a record ``config`` cannot mask:
    whole words without words (:func:`check_words`), or, for span
    corruption, a sequence too short for its noise spans (``length_errors``
    caches the verdict per length) or holding ids of its sentinels."""
    check_words(rec, config)
    if config.objective == "span_corruption":
        n = len(rec.ids)
        if n not in length_errors:
            length_errors[n] = config.length_error(n)
        if length_errors[n]:
            raise InputError(f"{rec.where}: {length_errors[n]}")
        lowest = config.lowest_sentinel(n)
        if n and int(rec.ids.max()) >= lowest:
            raise InputError(
                f"{rec.where}: id {int(rec.ids.max())} is one of this sequence's sentinel ids "
                f"({lowest} to {config.first_sentinel}): give a larger --vocab-size"
            )


def check_words(rec, config: MaskingConfig) -> None:
    """Raises :class:`InputError` when ``config`` masks whole words and
    ``rec`` has none, nor a vocabulary to group them from."""
    if config.whole_word and rec.word_lengths is None and config.continuation_table is None:
        raise InputError(
            f"{rec.where}: --whole-word needs words: give --vocab "
            "(words grouped from its ## / \u2581 pieces) or lists of "
            "words, each a list of ids"
        )


def mask_chunks(chunks, mask_fn, num_parallel_calls: Optional[int] = None):
    """The masked records of a dataset of :func:`pack`-ed chunks, one
    record per ``mask_fn`` call (see :func:`~tf_mlm.pretraining.masker.make_mask_fn`),
    in order: the step the local command and :mod:`tf_mlm.beam` share."""
    import tensorflow as tf

    ds = chunks.flat_map(tf.autograph.experimental.do_not_convert(_unpack))
    return ds.map(
        mask_fn,
        num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE,
        deterministic=True,
    )


def pack(chunk):
    """Records as flat arrays: (dupes, indices, ids, ids row splits, word
    lengths, word row splits, nbytes)."""
    recs = [r for _, _, r in chunk]
    words = [
        r.word_lengths if r.word_lengths is not None else np.zeros([0], np.int64) for r in recs
    ]

    def splits(arrays):
        return np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)

    return (
        np.array([d for d, _, _ in chunk], np.int64),
        np.array([i for _, i, _ in chunk], np.int64),
        np.concatenate([r.ids for r in recs]),
        splits([r.ids for r in recs]),
        np.concatenate(words),
        splits(words),
        np.array([r.nbytes for r in recs], np.int64),
    )


def _unpack(dupes, indices, ids, splits, words, word_splits, nbytes):
    import tensorflow as tf

    return tf.data.Dataset.range(tf.size(dupes, out_type=tf.int64)).map(
        tf.autograph.experimental.do_not_convert(
            lambda j: (
                dupes[j],
                indices[j],
                ids[splits[j] : splits[j + 1]],
                words[word_splits[j] : word_splits[j + 1]],
                nbytes[j],
            )
        )
    )


def rows_of(batch: Dict) -> List[Dict]:
    """A batch from :func:`build_dataset` as per-record dicts of arrays."""
    n = len(batch["num_tokens"])
    out = [{} for _ in range(n)]
    for name, values in batch.items():
        if hasattr(values, "to_list"):  # ragged
            values = [np.asarray(v, np.int64) for v in values.to_list()]
        for row in range(n):
            out[row][name] = values[row]
    return out


def run_mask(
    reader: SequenceReader,
    config: MaskingConfig,
    output_dir: str,
    *,
    output_format: str = "tfrecord",
    num_shards: int = 1,
    compression: str = "",
    overwrite: bool = False,
    num_parallel_calls: Optional[int] = None,
    shuffle_buffer: int = 0,
    progress=None,
    extra_metadata: Optional[Dict] = None,
    _after_record: Optional[Callable[[int], None]] = None,
) -> Dict:
    """Masks every record of ``reader`` ``config.dupe_factor`` times (or
    corrupts its spans, for a :class:`SpanCorruptionConfig`) and writes the
    shards and ``metadata.json`` to ``output_dir``.

    The shards and metadata are written into a temporary sibling directory
    and published with one atomic rename once all are complete (see
    :mod:`tf_mlm.pretraining.writers`); on any error or interrupt the
    temporary directory is removed and ``output_dir`` is as it was.
    Write errors raise :class:`~tf_mlm.pretraining.writers.OutputError`.

    Returns the summary also stored in ``metadata.json``.
    """
    config.validate()
    holder = _ErrorHolder()
    padded = output_format == "tfrecord" and config.objective == "mlm"
    ds = build_dataset(
        reader,
        config,
        padded=padded,
        num_parallel_calls=num_parallel_calls,
        shuffle_buffer=shuffle_buffer,
        holder=holder,
    )
    writer = writers_lib.ShardedWriter(
        output_dir,
        num_shards=num_shards,
        fmt=output_format,
        compression=compression,
        overwrite=overwrite,
    )
    total_bytes = reader.total_bytes
    if progress is not None:
        progress.start(None if total_bytes is None else total_bytes * config.dupe_factor)
    start = time.perf_counter()
    with writer:
        counts = _write_records(ds, writer, holder, padded, progress, _after_record)
        elapsed = time.perf_counter() - start
        summary = run_summary(
            reader.stats,
            config,
            writer.final_names,
            output_format,
            compression,
            *counts,
            order=SHUFFLE_BUFFER_ORDER if shuffle_buffer > 1 else ORDER,
        )
        summary.update(extra_metadata or {})
        writer.commit(metadata=summary)
    if progress is not None:
        progress.close()
    summary["seconds"] = elapsed
    return summary


def _write_records(ds, writer, holder: _ErrorHolder, padded: bool, progress, after_record):
    """Reads the masked batches of ``ds`` and writes their records; returns
    the number of records, of tokens, of masked (or noise) tokens, of
    inputs and of targets tokens (span corruption; else 0). An error of the
    reader (carried by ``holder``) is raised as itself."""
    import tensorflow as tf

    records = tokens = masked = inputs = targets = 0
    try:
        for batch in ds.as_numpy_iterator():
            rows = rows_of(batch)
            for element in rows:
                writer.write(element)
                records += 1
                if after_record is not None:
                    after_record(records)
            batch_tokens = int(batch["num_tokens"].sum())
            tokens += batch_tokens
            if "num_noise" in batch:  # span corruption
                masked += int(batch["num_noise"].sum())
                inputs += sum(len(e["inputs"]) for e in rows)
                targets += sum(len(e["targets"]) for e in rows)
            else:
                masked += (
                    int(batch["masked_lm_weights"].sum())
                    if padded
                    else sum(len(e["masked_lm_positions"]) for e in rows)
                )
            if progress is not None:
                progress.update(len(batch["num_tokens"]), batch_tokens, int(batch["nbytes"].sum()))
    except tf.errors.OpError:
        if holder.error is not None:
            raise holder.error from None
        raise
    if holder.error is not None:
        raise holder.error
    return records, tokens, masked, inputs, targets


ORDER = "copy-major; record k of the whole run is in shard k % num_shards"
SHUFFLE_BUFFER_ORDER = (
    "copy-major, then shuffled with a buffer seeded by the seed; record k of the "
    "shuffled run is in shard k % num_shards"
)


def run_summary(
    stats,
    config,
    shards: List[str],
    output_format: str,
    compression: str,
    records: int,
    tokens: int,
    masked: int,
    inputs: int = 0,
    targets: int = 0,
    order: str = ORDER,
) -> Dict:
    """The summary of a run, as ``metadata.json`` records it: ``stats``
    the reader's :class:`~tf_mlm.pretraining.readers.ReadStats`, ``shards``
    the shard names, ``inputs`` and ``targets`` the span-corruption token
    counts."""
    import tf_mlm

    summary = {
        "tf_mlm_version": tf_mlm.__version__,
        "objective": config.objective,
        "format": output_format,
        "compression": compression or None,
        "shards": list(shards),
        "records": records,
        "input_records": stats.records,
        "tokens": tokens,
    }
    if config.objective == "span_corruption":
        summary.update(noise_tokens=masked, inputs_tokens=inputs, targets_tokens=targets)
    else:
        summary["masked_tokens"] = masked
    summary.update(
        skipped_empty=stats.skipped_empty,
        truncated=stats.truncated,
        skipped_long=stats.skipped_long,
        max_seq_length=config.max_seq_length,
    )
    if config.objective == "span_corruption":
        summary.update(
            first_sentinel=config.first_sentinel,
            vocab_size=config.vocab_size,
            span_corruption=config.to_json(),
        )
    else:
        summary.update(
            max_predictions_per_seq=config.max_predictions_per_seq,
            mask_token=config.mask_token,
            vocab_size=config.vocab_size,
            masking=config.to_json(),
        )
    summary["order"] = order
    if output_format == "tfrecord" and config.objective == "span_corruption":
        # int64 lists of any length (records.span_feature_spec)
        summary["feature_spec"] = {
            name: {"shape": [None], "dtype": "int64"} for name in writers_lib.SPAN_FEATURES
        }
    elif output_format == "tfrecord":
        summary["feature_spec"] = {
            name: {"shape": list(spec.shape), "dtype": spec.dtype.name}
            for name, spec in writers_lib.feature_spec(
                config.max_seq_length, config.max_predictions_per_seq
            ).items()
        }
    return summary
