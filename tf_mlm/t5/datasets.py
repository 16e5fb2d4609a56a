"""The dataset preprocessors: t5's signatures, elements and seeds.

``span_corruption`` and ``denoise`` (with the span corruption functions)
batch the examples, corrupt each batch in one kernel call and unbatch them:
the elements come out in order, each corrupted with the seed seqio hands
its position. The other preprocessors map one example at a time.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import tensorflow as tf

from tf_mlm.t5 import _seqio

BATCH_SIZE = 128  # examples per kernel call
CHUNK_LENGTH = 65536  # span_corruption's select_random_chunk(max_length=...)
CONCAT_BATCH = 128  # span_corruption's reduce_concat_tokens(batch_size=...)
AUTOTUNE = tf.data.AUTOTUNE


def _nonempty(key):
    return lambda x: tf.size(x[key]) > 0


def _overlap(keys, passthrough, what):
    common = set(keys) & set(passthrough or ())
    if common:
        raise ValueError(f"{what} keys {common} also included in passthrough keys")


# --- select_random_chunk -------------------------------------------------------------------


def chunk_start(n_tokens, length, seed, uniform_random_start=False):
    """Where one example's chunk of ``length`` tokens starts (may be < 0
    with ``uniform_random_start``), from the example's seed."""
    seed = tf.random.experimental.stateless_split(seed)[1]
    if uniform_random_start:
        return tf.random.stateless_uniform(
            [], minval=1 - length, maxval=n_tokens, dtype=tf.int32, seed=seed
        )
    # chunks at multiples of `length`; their count in float32 as t5 counts
    count = tf.math.ceil(tf.cast(n_tokens, tf.float32) / tf.cast(length, tf.float32))
    count = tf.cast(count, tf.int32)
    pick = tf.random.stateless_uniform([], maxval=count, dtype=tf.int32, seed=seed)
    return length * pick


def _chunk_length(max_length, min_length, seed):
    if min_length is None:
        return max_length
    seed = tf.random.experimental.stateless_split(seed)[0]
    return tf.random.stateless_uniform(
        [], minval=min_length, maxval=max_length, dtype=tf.int32, seed=seed
    )


def select_random_chunk(
    dataset: tf.data.Dataset,
    output_features: Mapping,
    max_length: Optional[int] = None,
    feature_key: str = "targets",
    additional_feature_keys: Optional[Sequence[str]] = None,
    passthrough_feature_keys: Optional[Sequence[str]] = None,
    sequence_length: Optional[Mapping[str, int]] = None,
    uniform_random_start: bool = False,
    min_length: Optional[int] = None,
    **unused_kwargs,
) -> tf.data.Dataset:
    """One chunk of at most ``max_length`` tokens of each non-empty example
    (``feature_key`` and the ``additional_feature_keys`` cut alike, the
    passthrough features kept): examples that fit are kept whole, longer ones
    give one of their chunks at multiples of ``max_length`` (or a chunk from
    a uniform start), drawn from the example's seed."""
    keys = [feature_key, *(additional_feature_keys or ())]
    _overlap(keys, passthrough_feature_keys, "chunk")
    if max_length is None and sequence_length is not None:
        max_length = sequence_length[feature_key]
        if output_features[feature_key].add_eos:
            max_length -= 1  # room for EOS
    if max_length is None:
        raise ValueError("Must specify max_length or sequence_length.")

    def chunk(x, seed):
        n_tokens = tf.shape(x[feature_key])[0]
        length = _chunk_length(max_length, min_length, seed)
        start = chunk_start(n_tokens, length, seed, uniform_random_start)
        end = tf.minimum(start + length, n_tokens)
        start = tf.maximum(start, 0)
        checks = [
            tf.debugging.assert_equal(
                n_tokens,
                tf.shape(x[k])[0],
                message=f"Additional feature {k} is not the same size as {feature_key} "
                "along axis 0 in select_random_chunk().",
            )
            for k in keys[1:]
        ]
        with tf.control_dependencies(checks):
            out = {k: x[k][start:end] for k in keys}
        out.update({k: x[k] for k in passthrough_feature_keys or ()})
        return out

    return _seqio.map_seeded(chunk)(dataset.filter(_nonempty(feature_key)))


# --- reduce_concat_tokens and split_tokens --------------------------------------------------


def _concat_nonzero(batch: tf.RaggedTensor) -> tf.Tensor:
    """The batch's tokens end to end, zeros dropped."""
    flat = tf.reshape(batch.flat_values, [-1])
    return tf.boolean_mask(flat, tf.not_equal(flat, 0))


def reduce_concat_tokens(dataset, feature_key="targets", batch_size=128, **unused_kwargs):
    """Each run of ``batch_size`` examples as one: their ``feature_key``
    tokens end to end, every 0 dropped (padding and real zeros alike); the
    other features are dropped."""
    tokens = dataset.map(lambda x: x[feature_key], num_parallel_calls=AUTOTUNE)
    return tokens.ragged_batch(batch_size).map(
        lambda b: {feature_key: _concat_nonzero(b)}, num_parallel_calls=AUTOTUNE
    )


def _segment_splits(n_tokens, length):
    """Row splits of an example cut into pieces of ``length`` (the last
    shorter), their count rounded up in float32 as t5 counts them."""
    count = tf.cast(
        tf.math.ceil(tf.cast(n_tokens, tf.float32) / tf.cast(length, tf.float32)), tf.int32
    )
    # Beyond 2**24 tokens float32 may count one piece short; t5 then fails
    # on the leftover tokens, and so does this (never a silently cut tail).
    covered = tf.debugging.assert_greater_equal(
        tf.cast(count, tf.int64) * tf.cast(length, tf.int64),
        tf.cast(n_tokens, tf.int64),
        message="split_tokens: the pieces of this example, counted in float32 as t5 "
        "counts them, do not cover its tokens (an example of more than 2**24 tokens)",
    )
    with tf.control_dependencies([covered]):
        ends = tf.range(1, count + 1) * length
    return tf.concat([[0], tf.minimum(ends, n_tokens)], axis=0)


def _segment_length(min_tokens, max_tokens, seed):
    if min_tokens is None:
        return tf.constant(max_tokens, tf.int32)
    low, high = math.log(min_tokens), math.log(max_tokens)  # float64, then float32
    logs = tf.random.stateless_uniform([], minval=low, maxval=high, seed=seed)
    return tf.cast(tf.exp(logs), tf.int32)


def split_tokens(
    dataset: tf.data.Dataset,
    min_tokens_per_segment: Optional[int] = None,
    max_tokens_per_segment: int = None,
    feature_key: str = "targets",
    additional_feature_keys: Optional[Sequence[str]] = None,
    passthrough_feature_keys: Optional[Sequence[str]] = None,
    **unused_kwargs,
) -> tf.data.Dataset:
    """Each non-empty example cut into consecutive pieces of
    ``max_tokens_per_segment`` tokens (the last one shorter), or of a
    log-uniform random length per example when ``min_tokens_per_segment``
    is given; passthrough features are repeated on every piece."""
    if max_tokens_per_segment is None:
        raise TypeError("split_tokens() needs max_tokens_per_segment")
    keys = [feature_key, *(additional_feature_keys or ())]
    _overlap(keys, passthrough_feature_keys, "split")

    def pieces(x, seed):
        n_tokens = tf.shape(x[feature_key])[0]
        splits = _segment_splits(
            n_tokens, _segment_length(min_tokens_per_segment, max_tokens_per_segment, seed)
        )
        checks = [
            tf.debugging.assert_equal(
                n_tokens,
                tf.shape(x[k])[0],
                message=f"Additional feature {k} is not the same size as {feature_key} "
                "along axis 0 in split_tokens().",
            )
            for k in keys[1:]
        ]
        with tf.control_dependencies(checks):
            cut = {k: tf.RaggedTensor.from_row_splits(x[k], splits, validate=False) for k in keys}
        segments = tf.data.Dataset.from_tensors(cut).unbatch()  # dense pieces
        if not passthrough_feature_keys:
            return segments
        kept = {k: v for k, v in x.items() if k in passthrough_feature_keys}
        repeated = tf.data.Dataset.from_tensors(kept).repeat(tf.size(splits, tf.int64) - 1)
        return tf.data.Dataset.zip((segments, repeated)).map(lambda a, b: {**a, **b})

    dataset = dataset.filter(_nonempty(feature_key))
    return _seqio.dense_elements(_seqio.map_seeded(pieces)(dataset).flat_map(lambda d: d))


def _split_to_length(dataset, sequence_length, output_features, key, **kwargs):
    """``split_tokens`` to ``sequence_length[key]`` tokens, one fewer when
    the feature appends EOS (room for it)."""
    max_tokens = sequence_length[key] - (1 if output_features[key].add_eos else 0)
    return split_tokens(dataset, max_tokens_per_segment=max_tokens, **kwargs)


def split_tokens_to_inputs_length(dataset, sequence_length, output_features, **kwargs):
    """``split_tokens`` into pieces of ``sequence_length["inputs"]`` tokens
    (less one when the inputs feature appends EOS)."""
    return _split_to_length(dataset, sequence_length, output_features, "inputs", **kwargs)


def split_tokens_to_targets_length(dataset, sequence_length, output_features, **kwargs):
    """``split_tokens`` into pieces of ``sequence_length["targets"]`` tokens
    (less one when the targets feature appends EOS)."""
    return _split_to_length(dataset, sequence_length, output_features, "targets", **kwargs)
