"""The ``tf-mlm mask`` pipeline: sequences -> ``tf.data`` -> parallel,
deterministic masking -> sharded output.

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
from tf_mlm.pretraining.config import SELECTION_MODES, MaskingConfig  # noqa: F401
from tf_mlm.pretraining.masker import make_mask_fn, record_seed  # noqa: F401
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
    """The masked ``tf.data.Dataset``, in batches of ``batch_size`` records
    (dense when ``padded``, ragged otherwise); records in copy-major order
    (every record of copy 0, then of copy 1, ...), optionally shuffled with
    a buffer seeded by ``config.seed``.

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
                check_words(rec, config)
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
    ds = mask_chunks(ds, make_mask_fn(config, padded), num_parallel_calls)
    if shuffle_buffer > 1:
        ds = ds.shuffle(shuffle_buffer, seed=config.seed % (2**31), reshuffle_each_iteration=False)
    ds = ds.batch(batch_size) if padded else ds.ragged_batch(batch_size)
    return ds.prefetch(2)


_CHUNK = 256
_CACHE_TOKENS = 1 << 26  # about 1 GB of raw-text records


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
    """Masks every record of ``reader`` ``config.dupe_factor`` times and
    writes the shards and ``metadata.json`` to ``output_dir``.

    The shards and metadata are written into a temporary sibling directory
    and published with one atomic rename once all are complete (see
    :mod:`tf_mlm.pretraining.writers`); on any error or interrupt the
    temporary directory is removed and ``output_dir`` is as it was.
    Write errors raise :class:`~tf_mlm.pretraining.writers.OutputError`.

    Returns the summary also stored in ``metadata.json``.
    """
    config.validate()
    holder = _ErrorHolder()
    padded = output_format == "tfrecord"
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
            reader.stats, config, writer.final_names, output_format, compression, *counts
        )
        summary.update(extra_metadata or {})
        writer.commit(metadata=summary)
    if progress is not None:
        progress.close()
    summary["seconds"] = elapsed
    return summary


def _write_records(ds, writer, holder: _ErrorHolder, padded: bool, progress, after_record):
    """Reads the masked batches of ``ds`` and writes their records; returns
    the number of records, of tokens and of masked tokens. An error of the
    reader (carried by ``holder``) is raised as itself."""
    import tensorflow as tf

    records = tokens = masked = 0
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
    return records, tokens, masked


ORDER = "copy-major; record k of the whole run is in shard k % num_shards"


def run_summary(
    stats,
    config: MaskingConfig,
    shards: List[str],
    output_format: str,
    compression: str,
    records: int,
    tokens: int,
    masked: int,
    order: str = ORDER,
) -> Dict:
    """The summary of a run, as ``metadata.json`` records it: ``stats``
    the reader's :class:`~tf_mlm.pretraining.readers.ReadStats`, ``shards``
    the shard names."""
    import tf_mlm

    summary = {
        "tf_mlm_version": tf_mlm.__version__,
        "format": output_format,
        "compression": compression or None,
        "shards": list(shards),
        "records": records,
        "input_records": stats.records,
        "tokens": tokens,
        "masked_tokens": masked,
        "skipped_empty": stats.skipped_empty,
        "truncated": stats.truncated,
        "skipped_long": stats.skipped_long,
        "max_seq_length": config.max_seq_length,
        "max_predictions_per_seq": config.max_predictions_per_seq,
        "mask_token": config.mask_token,
        "vocab_size": config.vocab_size,
        "masking": config.to_json(),
        "order": order,
    }
    if output_format == "tfrecord":
        summary["feature_spec"] = {
            name: {"shape": list(spec.shape), "dtype": spec.dtype.name}
            for name, spec in writers_lib.feature_spec(
                config.max_seq_length, config.max_predictions_per_seq
            ).items()
        }
    return summary
