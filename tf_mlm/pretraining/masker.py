"""Masking one record in the ``tf-mlm mask`` pipeline's ``tf.data`` map:
its stateless seed (:func:`record_seed`) and the map functions that mask
it and pad its features (:func:`make_mask_fn`) or corrupt its spans
(:func:`make_span_fn`)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from tf_mlm.pretraining.config import MaskingConfig, SpanCorruptionConfig

# Second word of the base seed: keeps these streams apart from other users
# of the same --seed.
_SEED_SALT = 0x746D6C6D


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

    selector, chooser = _selector(config), _chooser(config)
    table = (
        None if config.continuation_table is None else np.asarray(config.continuation_table, bool)
    )
    budget = config.max_predictions_per_seq
    may_overflow = config.whole_word or config.span or config.cap > budget

    def mask_one(dupe, index, ids, word_lengths, nbytes):
        seed = record_seed(config.seed, dupe, index)
        n = tf.size(ids, out_type=tf.int64)
        batch, token_item = _one_row_batch(ids, n, word_lengths, config.whole_word, table)
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
            out.update(
                _padded_features(masked, positions, labels, n, config.max_seq_length, budget)
            )
        else:
            out.update(input_ids=masked, masked_lm_positions=positions, masked_lm_ids=labels)
        return out

    # Plain graph code: skipping AutoGraph's conversion of the whole call
    # tree saves seconds of start-up.
    return tf.autograph.experimental.do_not_convert(mask_one)


def make_record_fn(config, padded: bool) -> Callable:
    """The map function of ``config``'s objective."""
    if isinstance(config, SpanCorruptionConfig):
        return make_span_fn(config)
    return make_mask_fn(config, padded)


def make_span_fn(config: SpanCorruptionConfig) -> Callable:
    """The per-record ``tf.data`` map function of span corruption: ``(dupe,
    index, ids, word_lengths, nbytes) -> dict`` of ``inputs`` and
    ``targets`` (unpadded), plus ``num_tokens``, ``num_noise`` and ``nbytes``.

    Record ``index`` of copy ``dupe`` is ``tf_mlm.span_corruption([ids],
    seed=[record_seed(config.seed, dupe, index)], ...)``: its record seed is
    the example seed, used as t5's ``denoise`` uses the seed seqio gives an
    example."""
    import tensorflow as tf

    import tf_mlm

    def corrupt_one(dupe, index, ids, word_lengths, nbytes):
        del word_lengths  # spans are of tokens
        seed = record_seed(config.seed, dupe, index)
        n = tf.size(ids, out_type=tf.int64)
        tokens = tf.RaggedTensor.from_row_splits(
            ids, tf.stack([tf.constant(0, tf.int64), n]), validate=False
        )
        out = tf_mlm.span_corruption(
            tokens,
            seed=tf.reshape(seed, [1, 2]),
            noise_density=config.noise_density,
            mean_noise_span_length=config.mean_noise_span_length,
            first_sentinel=config.first_sentinel,
        )
        return {
            "inputs": out.inputs.flat_values,
            "targets": out.targets.flat_values,
            "num_tokens": n,
            "num_noise": tf.reduce_sum(tf.cast(out.noise_mask.flat_values, tf.int64)),
            "nbytes": nbytes,
        }

    return tf.autograph.experimental.do_not_convert(corrupt_one)


def _selector(config: MaskingConfig):
    """The item selector of ``config``: SpanBERT spans, else random items."""
    import tf_mlm

    unselectable = [int(i) for i in config.unselectable_ids]
    if config.span:
        return tf_mlm.SpanItemSelector(
            config.cap,
            config.selection_rate,
            unselectable,
            p=config.span_p,
            max_span_length=config.max_span_length,
        )
    return tf_mlm.RandomItemSelector(
        max_selections_per_batch=config.cap,
        selection_rate=config.selection_rate,
        unselectable_ids=unselectable,
        selection_mode=config.selection_mode,
    )


def _chooser(config: MaskingConfig):
    """The mask values chooser of ``config`` (its replacement law included)."""
    import tf_mlm

    chooser_options = {}
    if config.random_excluded_ids:
        chooser_options["excluded_ids"] = [int(i) for i in config.random_excluded_ids]
    if config.replacement_frequencies is not None:
        chooser_options["replacement_frequencies"] = np.asarray(
            config.replacement_frequencies, np.float64
        )
    return tf_mlm.MaskValuesChooser(
        config.vocab_size,
        config.mask_token,
        mask_token_rate=config.mask_token_rate,
        random_token_rate=config.random_token_rate,
        **chooser_options,
    )


def _one_row_batch(ids, n, word_lengths, whole_word, table):
    """One record as a batch of one row: of tokens, or with ``whole_word``
    of words (its own, else grouped with ``table``); and the item index of
    every token."""
    import tensorflow as tf

    import tf_mlm

    tokens = tf.RaggedTensor.from_row_splits(
        ids, tf.stack([tf.constant(0, tf.int64), n]), validate=False
    )
    if not whole_word:
        return tokens, tf.range(n)
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
    return batch, token_item


def _padded_features(masked, positions, labels, n, max_seq_length, budget):
    """The TFRecord features of one masked record, padded to
    ``max_seq_length`` tokens and ``budget`` predictions."""
    import tensorflow as tf

    pad_seq = [[0, max_seq_length - n]]
    k = tf.size(positions, out_type=tf.int64)
    pad_pred = [[0, budget - k]]
    return dict(
        input_ids=tf.ensure_shape(tf.pad(masked, pad_seq), [max_seq_length]),
        input_mask=tf.ensure_shape(tf.pad(tf.ones_like(masked), pad_seq), [max_seq_length]),
        masked_lm_positions=tf.ensure_shape(tf.pad(positions, pad_pred), [budget]),
        masked_lm_ids=tf.ensure_shape(tf.pad(labels, pad_pred), [budget]),
        masked_lm_weights=tf.ensure_shape(
            tf.pad(tf.ones_like(positions, tf.float32), pad_pred), [budget]
        ),
    )
