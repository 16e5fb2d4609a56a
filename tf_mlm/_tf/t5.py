"""T5 span corruption in TensorFlow: the one caller of the span corruption
kernels, and tf_mlm's own batch API, :func:`span_corruption`.

Every front end (this module's :func:`span_corruption`, the drop-in
``tf_mlm.t5``) hands the kernel a whole batch: flat ``values`` with their
``row_splits``, and per row the two seeds of T5's
``random_spans_noise_mask`` (``[batch, 2, 2]``, int64).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import tensorflow as tf

from tf_mlm._shared.args import is_int, kernel_noise_density
from tf_mlm._tf import library as _library
from tf_mlm._tf.ragged import ID_DTYPES

NOISE_DENSITY = 0.15
MEAN_NOISE_SPAN_LENGTH = 3.0
# tf.random.experimental.stateless_split(seed, DENOISE_SPLITS)[:2] are the
# mask's seeds of one example of t5's denoise (its inputs_fn and targets_fn
# get the other four).
DENOISE_SPLITS = 6


class SpanCorruption(NamedTuple):
    """The result of :func:`span_corruption`, each ``[batch, (tokens)]``."""

    inputs: tf.RaggedTensor
    """The tokens with each noise span replaced by one sentinel."""
    targets: tf.RaggedTensor
    """The noise spans, each after its sentinel (the non-noise spans replaced)."""
    noise_mask: tf.RaggedTensor
    """True at the tokens of the noise spans (the input's row partition)."""


def corrupt(
    values,
    row_splits,
    mask_seeds,
    noise_density,
    mean_noise_span_length,
    random_roll,
    first_sentinel,
):
    """The fused kernel on a flat batch: the raw op's outputs (``noise_mask``,
    ``inputs``, ``inputs_row_splits``, ``targets``, ``targets_row_splits``)."""
    return _library.ops().tfmlm_span_corruption(
        values=values,
        row_splits=row_splits,
        seeds=mask_seeds,
        noise_density=tf.cast(kernel_noise_density(noise_density), tf.float32),
        mean_noise_span_length=tf.cast(mean_noise_span_length, tf.float32),
        random_roll=tf.cast(random_roll, tf.bool),
        first_sentinel=tf.cast(first_sentinel, tf.int64),
    )


def sentinels(values, row_splits, noise_mask, first_sentinel):
    """The sentinel pass for a given mask: ``inputs``, ``inputs_row_splits``,
    ``targets``, ``targets_row_splits``."""
    return _library.ops().tfmlm_noise_spans_to_sentinels(
        values=values,
        row_splits=row_splits,
        noise_mask=noise_mask,
        first_sentinel=tf.cast(first_sentinel, tf.int64),
    )


def denoise_mask_seeds(example_seeds: tf.Tensor) -> tf.Tensor:
    """``[batch, 2]`` per-example seeds (as seqio hands them to t5's denoise)
    -> the ``[batch, 2, 2]`` seeds of each example's noise mask."""
    split = _library.ops().tfmlm_stateless_split(
        tf.cast(example_seeds, tf.int64), num=DENOISE_SPLITS
    )
    return split[:, :2]


def _first_sentinel(vocab_size, first_sentinel):
    if (vocab_size is None) == (first_sentinel is None):
        raise ValueError("pass exactly one of `vocab_size` and `first_sentinel`")
    return vocab_size - 1 if first_sentinel is None else first_sentinel


def _mask_seeds(seed, batch_size) -> tf.Tensor:
    """``seed`` of :func:`span_corruption` -> ``[batch, 2, 2]`` int64."""
    if is_int(seed):
        seed = [int(seed), 0]
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    rank = seed.shape.rank
    if rank == 1:  # one stateless seed: a per-example seed for each row
        seed = tf.random.experimental.stateless_split(seed, batch_size)
        rank = 2
    if rank == 2:  # per-example seeds, as seqio gives them to t5's denoise
        return denoise_mask_seeds(seed)
    if rank == 3:
        return seed
    raise ValueError(f"`seed` must have shape [2], [batch, 2] or [batch, 2, 2], got {seed.shape}")


def _ragged_tokens(tokens) -> tf.RaggedTensor:
    if not isinstance(tokens, tf.RaggedTensor):
        if isinstance(tokens, (list, tuple)):
            tokens = tf.ragged.constant(tokens)
        else:
            tokens = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(tokens))
    if tokens.shape.rank != 2 or tokens.ragged_rank != 1:
        raise ValueError(f"`tokens` must be [batch, (tokens)], got shape {tokens.shape}")
    if tokens.dtype not in ID_DTYPES:
        raise TypeError(f"`tokens` must be int32 or int64, got {tokens.dtype.name}")
    return tokens


def span_corruption(
    tokens,
    seed,
    *,
    noise_density: float = NOISE_DENSITY,
    mean_noise_span_length: float = MEAN_NOISE_SPAN_LENGTH,
    vocab_size: Optional[int] = None,
    first_sentinel: Optional[int] = None,
    random_roll: bool = False,
) -> SpanCorruption:
    """T5's span corruption of a batch of token sequences in one kernel call.

    Per row, the noise mask of t5's ``random_spans_noise_mask`` (the same
    span counts and draws), then the inputs with each noise span replaced by
    a sentinel and the targets with each non-noise span replaced: the k-th
    span of a row becomes ``first_sentinel - k``. No EOS is appended.

    Args:
      tokens: ``[batch, (tokens)]`` int32 / int64 ids: a RaggedTensor, a dense
        2-D tensor or nested lists.
      seed: a stateless seed ``[2]`` (or an int ``s``, the pair ``(s, 0)``)
        for the whole batch (row ``b``'s example seed is
        ``tf.random.experimental.stateless_split(seed, batch)[b]``);
        ``[batch, 2]`` example seeds, each used as t5's ``denoise`` uses
        the seed seqio gives an example; or ``[batch, 2, 2]``, the
        ``seeds`` argument of ``random_spans_noise_mask`` for each row.
      noise_density: the fraction of tokens in noise spans.
      mean_noise_span_length: the mean length of a noise span.
      vocab_size: the vocabulary's size with its extra ids; the first
        sentinel is ``vocab_size - 1``. Or pass ``first_sentinel``.
      first_sentinel: the id of the first sentinel (``<extra_id_0>``).
      random_roll: roll each row's mask by a random offset (t5's
        ``random_roll``).

    Returns:
      ``SpanCorruption(inputs, targets, noise_mask)``, RaggedTensors.

    >>> import tf_mlm
    >>> out = tf_mlm.span_corruption([[5, 6, 7, 8, 9, 10, 11, 12, 13, 14]], seed=[1, 2],
    ...                              vocab_size=100, noise_density=0.3)
    >>> out.inputs.shape.as_list(), int(tf.reduce_sum(tf.cast(out.noise_mask, tf.int32)))
    ([1, None], 3)
    """
    tokens = _ragged_tokens(tokens)
    sentinel = _first_sentinel(vocab_size, first_sentinel)
    seeds = _mask_seeds(seed, tokens.nrows())
    out = corrupt(
        tokens.values,
        tokens.row_splits,
        seeds,
        noise_density,
        mean_noise_span_length,
        random_roll,
        sentinel,
    )

    def ragged(values, splits):
        return tf.RaggedTensor.from_row_splits(values, splits, validate=False)

    return SpanCorruption(
        inputs=ragged(out.inputs, out.inputs_row_splits),
        targets=ragged(out.targets, out.targets_row_splits),
        noise_mask=tokens.with_values(out.noise_mask),
    )
