"""The ``tf-mlm mask`` pipeline: sequences -> ``tf.data`` -> parallel,
deterministic masking -> sharded output.

Every output record is a pure function of ``(seed, dupe index, record
index, sequence)``: its stateless masking seed is derived from those with
:func:`record_seed`, and records are masked one per map call with
``deterministic=True``, so the output does not depend on
``num_parallel_calls``, on the number of shards or on the machine.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from tf_mlm.options import (
    MASK_TOKEN_RATE,
    MAX_SPAN_LENGTH,
    RANDOM_TOKEN_RATE,
    SELECTION_RATE,
    SPAN_P,
)
from tf_mlm.pretraining import writers as writers_lib
from tf_mlm.pretraining.readers import InputError, SequenceReader

SELECTION_MODES = ("exact", "bernoulli")
# Second word of the base seed: keeps these streams apart from other users
# of the same --seed.
_SEED_SALT = 0x746D6C6D


@dataclasses.dataclass
class MaskingConfig:
    """Every option of the masking, as ``tf-mlm mask`` exposes it.

    Attributes:
      vocab_size: random replacements come from ``[0, vocab_size)``; input
        ids must lie in that range.
      mask_token: id of the mask token.
      selection_rate: fraction of each sequence's selectable items masked
        (BERT's ``masked_lm_prob``).
      max_predictions_per_seq: length the predictions are padded to, and the
        most masked tokens a record may have.
      max_selections: cap on selected items per sequence (words with
        ``whole_word``); default ``max_predictions_per_seq``. When the
        selected items hold more tokens than ``max_predictions_per_seq``,
        whole items chosen at random are unmasked until they fit.
      mask_token_rate, random_token_rate: BERT's 80/10/10 split.
      unselectable_ids: ids never masked.
      selection_mode: ``"exact"`` (tensorflow_text's count) or
        ``"bernoulli"`` (each item independently).
      whole_word: mask whole words: the words of inputs that carry them
        (JSON lists of words), else words grouped by ``continuation_table``.
      continuation_table: bool per vocabulary id, True for pieces that
        continue a word (:func:`tf_mlm.wordpiece_continuation_table`).
      span: SpanBERT span masking (:class:`tf_mlm.SpanItemSelector`) with
        geometric span lengths of parameter ``span_p`` clipped at
        ``max_span_length`` (items: words with ``whole_word``).
      random_excluded_ids: ids never drawn as random replacements.
      replacement_frequencies: ``vocab_size`` weights: random replacements
        drawn in proportion to them (fairseq's freq_weighted_replacement).
      max_seq_length: length ``input_ids`` is padded to.
      seed: makes the output reproducible (see :func:`record_seed`).
      dupe_factor: how many differently masked copies of each sequence.
    """

    vocab_size: int
    mask_token: int
    selection_rate: float = SELECTION_RATE
    max_predictions_per_seq: int = 20
    max_selections: Optional[int] = None
    mask_token_rate: float = MASK_TOKEN_RATE
    random_token_rate: float = RANDOM_TOKEN_RATE
    unselectable_ids: Sequence[int] = ()
    selection_mode: str = "exact"
    whole_word: bool = False
    continuation_table: Optional[np.ndarray] = None
    span: bool = False
    span_p: float = SPAN_P
    max_span_length: int = MAX_SPAN_LENGTH
    random_excluded_ids: Sequence[int] = ()
    replacement_frequencies: Optional[np.ndarray] = None
    max_seq_length: int = 128
    seed: int = 12345
    dupe_factor: int = 1

    def validate(self) -> None:
        """Raises ``ValueError`` naming the first bad option."""

        def check(ok, message):
            if not ok:
                raise ValueError(message)

        check(self.vocab_size > 0, f"vocab size must be positive, got {self.vocab_size}")
        check(
            0 <= self.mask_token < self.vocab_size,
            f"mask token {self.mask_token} is outside the vocabulary [0, {self.vocab_size})",
        )
        check(
            0.0 <= self.selection_rate <= 1.0,
            f"selection rate must be in [0, 1], got {self.selection_rate}",
        )
        for name in ("mask_token_rate", "random_token_rate"):
            value = getattr(self, name)
            check(0.0 <= value <= 1.0, f"{name.replace('_', ' ')} must be in [0, 1], got {value}")
        check(
            self.mask_token_rate + self.random_token_rate <= 1.0 + 1e-9,
            "mask token rate + random token rate must be <= 1, got "
            f"{self.mask_token_rate} + {self.random_token_rate}",
        )
        check(self.max_predictions_per_seq > 0, "max predictions per sequence must be positive")
        check(
            self.max_selections is None or self.max_selections >= 0, "max selections must be >= 0"
        )
        check(self.max_seq_length > 0, "max sequence length must be positive")
        check(self.dupe_factor >= 1, f"dupe factor must be >= 1, got {self.dupe_factor}")
        check(
            self.selection_mode in SELECTION_MODES,
            f"selection mode must be one of {SELECTION_MODES}, got {self.selection_mode!r}",
        )
        check(-(2**63) <= self.seed < 2**63, "seed must fit in int64")
        check(0.0 < self.span_p <= 1.0, f"span p must be in (0, 1], got {self.span_p}")
        check(self.max_span_length >= 1, "max span length must be >= 1")
        check(
            not (self.span and self.selection_mode != "exact"),
            "span masking draws exact budgets; selection mode 'bernoulli' does not apply",
        )
        if self.replacement_frequencies is not None:
            freq = np.asarray(self.replacement_frequencies)
            check(
                freq.shape == (self.vocab_size,),
                f"replacement frequencies must have one weight per id ({self.vocab_size}), "
                f"got {freq.shape[0] if freq.ndim == 1 else freq.shape}",
            )
            check(
                bool((freq >= 0).all()) and bool(freq.sum() > 0),
                "replacement frequencies must be non-negative and not all zero",
            )
        # The replacement law as the kernels build it (float32 weights, alias
        # tables), so that an impossible one fails here, not mid-run.
        from tf_mlm import numpy as np_mlm

        try:
            with np.errstate(over="ignore"):  # weights beyond float32: reported below
                np_mlm.replacement_tables(
                    self.vocab_size,
                    excluded_ids=np.asarray([int(i) for i in self.random_excluded_ids], np.int64)
                    if len(self.random_excluded_ids)
                    else None,
                    replacement_frequencies=self.replacement_frequencies,
                )
        except ValueError as e:
            message = (
                str(e)
                .replace("`excluded_ids`", "random excluded ids")
                .replace("`replacement_frequencies`", "replacement frequencies")
            )
            raise ValueError(message) from None

    @property
    def cap(self) -> int:
        return self.max_predictions_per_seq if self.max_selections is None else self.max_selections

    def to_json(self) -> Dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in ("unselectable_ids", "random_excluded_ids"):
            d[name] = [int(i) for i in d[name]]
        d["continuation_table"] = self.continuation_table is not None
        d["replacement_frequencies"] = self.replacement_frequencies is not None
        return d


def record_seed(seed: int, dupe, index):
    """The stateless seed (int64 ``[2]``) of record ``index`` in copy
    ``dupe``: ``seed`` folded with ``dupe`` and then ``index``.

    >>> a = record_seed(1, 0, 5)
    >>> b = record_seed(1, 0, 5)
    >>> bool(tf.reduce_all(a == b)), bool(tf.reduce_all(a == record_seed(1, 1, 5)))
    (True, False)
    """
    import tensorflow as tf

    base = tf.constant([seed, _SEED_SALT], tf.int64)
    fold = tf.random.experimental.stateless_fold_in
    return fold(fold(base, tf.cast(dupe, tf.int64)), tf.cast(index, tf.int64))


def _trim_to_budget(masked, positions, labels, token_item, budget, seed):
    """Unmasks whole items, in a random order, until at most ``budget``
    tokens stay masked. ``token_item``: item index of every token."""
    import tensorflow as tf

    items, slot = tf.unique(tf.gather(token_item, positions), out_idx=tf.int64)
    n = tf.size(items, out_type=tf.int64)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(slot), slot, n)
    order = tf.argsort(
        tf.random.stateless_uniform(
            tf.reshape(n, [1]), seed=tf.random.experimental.stateless_fold_in(seed, 1)
        )
    )
    order = tf.cast(order, tf.int64)
    keep_in_order = tf.cumsum(tf.gather(counts, order)) <= budget
    keep_slot = tf.scatter_nd(tf.expand_dims(order, 1), keep_in_order, tf.reshape(n, [1]))
    keep = tf.gather(keep_slot, slot)
    drop = tf.logical_not(keep)
    masked = tf.tensor_scatter_nd_update(masked, tf.expand_dims(positions[drop], 1), labels[drop])
    return masked, positions[keep], labels[keep]


def make_mask_fn(config: MaskingConfig, padded: bool) -> Callable:
    """The per-record ``tf.data`` map function: ``(dupe, index, ids,
    word_lengths, nbytes) -> dict`` of the output features (padded to the
    configured lengths when ``padded``), plus ``num_tokens`` and ``nbytes``."""
    import tensorflow as tf

    import tf_mlm

    unselectable = [int(i) for i in config.unselectable_ids]
    if config.span:
        selector = tf_mlm.SpanItemSelector(
            config.cap,
            config.selection_rate,
            unselectable,
            p=config.span_p,
            max_span_length=config.max_span_length,
        )
    else:
        selector = tf_mlm.RandomItemSelector(
            max_selections_per_batch=config.cap,
            selection_rate=config.selection_rate,
            unselectable_ids=unselectable,
            selection_mode=config.selection_mode,
        )
    chooser_options = {}
    if config.random_excluded_ids:
        chooser_options["excluded_ids"] = [int(i) for i in config.random_excluded_ids]
    if config.replacement_frequencies is not None:
        chooser_options["replacement_frequencies"] = np.asarray(
            config.replacement_frequencies, np.float64
        )
    chooser = tf_mlm.MaskValuesChooser(
        config.vocab_size,
        config.mask_token,
        mask_token_rate=config.mask_token_rate,
        random_token_rate=config.random_token_rate,
        **chooser_options,
    )
    table = (
        None if config.continuation_table is None else np.asarray(config.continuation_table, bool)
    )
    budget = config.max_predictions_per_seq
    may_overflow = config.whole_word or config.span or config.cap > budget

    def mask_one(dupe, index, ids, word_lengths, nbytes):
        seed = record_seed(config.seed, dupe, index)
        n = tf.size(ids, out_type=tf.int64)
        tokens = tf.RaggedTensor.from_row_splits(
            ids, tf.stack([tf.constant(0, tf.int64), n]), validate=False
        )
        if config.whole_word:
            if table is not None:
                grouped = tf_mlm.group_words(tokens, table).values.row_lengths()
                word_lengths = tf.cond(
                    tf.size(word_lengths) > 0,
                    lambda: word_lengths,
                    lambda: tf.cast(grouped, tf.int64),
                )
            words = tf.RaggedTensor.from_row_lengths(ids, word_lengths, validate=False)
            batch = tf.RaggedTensor.from_row_splits(
                words,
                tf.stack([tf.constant(0, tf.int64), tf.size(word_lengths, tf.int64)]),
                validate=False,
            )
            token_item = tf.repeat(tf.range(tf.size(word_lengths, tf.int64)), word_lengths)
        else:
            batch = tokens
            token_item = tf.range(n)
        masked, positions, labels = tf_mlm.mask_language_model(
            batch, selector, chooser, axis=1, seed=seed
        )
        masked = tf.reshape(masked.flat_values, [-1])
        positions = tf.cast(positions.flat_values, tf.int64)
        labels = labels.flat_values
        if may_overflow:
            masked, positions, labels = _trim_to_budget(
                masked, positions, labels, token_item, budget, seed
            )
        out = {"num_tokens": n, "nbytes": nbytes}
        if padded:
            pad_seq = [[0, config.max_seq_length - n]]
            k = tf.size(positions, out_type=tf.int64)
            pad_pred = [[0, budget - k]]
            out.update(
                input_ids=tf.ensure_shape(tf.pad(masked, pad_seq), [config.max_seq_length]),
                input_mask=tf.ensure_shape(
                    tf.pad(tf.ones_like(masked), pad_seq), [config.max_seq_length]
                ),
                masked_lm_positions=tf.ensure_shape(tf.pad(positions, pad_pred), [budget]),
                masked_lm_ids=tf.ensure_shape(tf.pad(labels, pad_pred), [budget]),
                masked_lm_weights=tf.ensure_shape(
                    tf.pad(tf.ones_like(positions, tf.float32), pad_pred), [budget]
                ),
            )
        else:
            out.update(input_ids=masked, masked_lm_positions=positions, masked_lm_ids=labels)
        return out

    # Plain graph code: skipping AutoGraph's conversion of the whole call
    # tree saves seconds of start-up.
    return tf.autograph.experimental.do_not_convert(mask_one)


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
    cache: Optional[List] = [] if config.dupe_factor > 1 and "-" in reader.inputs else None

    def records():
        for dupe in range(config.dupe_factor):
            source = cache if cache is not None and dupe > 0 else reader
            for index, rec in enumerate(source):
                if cache is not None and dupe == 0:
                    cache.append(rec)
                if (
                    config.whole_word
                    and rec.word_lengths is None
                    and config.continuation_table is None
                ):
                    raise InputError(
                        f"{rec.where}: --whole-word needs words: give --vocab "
                        "(words grouped from its ## / \u2581 pieces) or lists of "
                        "words, each a list of ids"
                    )
                yield dupe, index, rec

    def chunks():
        try:
            chunk: List = []
            for item in records():
                chunk.append(item)
                if len(chunk) == _CHUNK:
                    yield _pack(chunk)
                    chunk = []
            if chunk:
                yield _pack(chunk)
        except BaseException as e:
            holder.error = e
            raise

    scalars = tf.TensorSpec([None], tf.int64)
    ds = tf.data.Dataset.from_generator(chunks, output_signature=(scalars,) * 7)
    ds = ds.flat_map(tf.autograph.experimental.do_not_convert(_unpack))
    ds = ds.map(
        make_mask_fn(config, padded),
        num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE,
        deterministic=True,
    )
    if shuffle_buffer > 1:
        ds = ds.shuffle(shuffle_buffer, seed=config.seed % (2**31), reshuffle_each_iteration=False)
    ds = ds.batch(batch_size) if padded else ds.ragged_batch(batch_size)
    return ds.prefetch(2)


_CHUNK = 256


def _pack(chunk):
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


def _rows(batch: Dict) -> List[Dict]:
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
    import tensorflow as tf

    import tf_mlm

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
    records = tokens = masked = 0
    with writer:
        try:
            for batch in ds.as_numpy_iterator():
                rows = _rows(batch)
                for element in rows:
                    writer.write(element)
                    records += 1
                    if _after_record is not None:
                        _after_record(records)
                batch_tokens = int(batch["num_tokens"].sum())
                tokens += batch_tokens
                masked += (
                    int(batch["masked_lm_weights"].sum())
                    if padded
                    else sum(len(e["masked_lm_positions"]) for e in rows)
                )
                if progress is not None:
                    progress.update(
                        len(batch["num_tokens"]), batch_tokens, int(batch["nbytes"].sum())
                    )
        except tf.errors.OpError:
            if holder.error is not None:
                raise holder.error from None
            raise
        if holder.error is not None:
            raise holder.error
        elapsed = time.perf_counter() - start
        stats = reader.stats
        summary = {
            "tf_mlm_version": tf_mlm.__version__,
            "format": output_format,
            "compression": compression or None,
            "shards": writer.final_names,
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
            "order": "copy-major; record k of the whole run is in shard k % num_shards",
        }
        if padded:
            summary["feature_spec"] = {
                name: {"shape": list(spec.shape), "dtype": spec.dtype.name}
                for name, spec in writers_lib.feature_spec(
                    config.max_seq_length, config.max_predictions_per_seq
                ).items()
            }
        summary.update(extra_metadata or {})
        writer.commit(metadata=summary)
    if progress is not None:
        progress.close()
    summary["seconds"] = elapsed
    return summary
