"""One example's noise masks and sentinels, with t5's signatures.

``random_spans_noise_mask`` and the unique-sentinel functions run the fused
kernels on a batch of one row; the dataset functions of
:mod:`tf_mlm.t5.datasets` call the same kernels on whole batches.
"""

from __future__ import annotations

import logging

import tensorflow as tf

from tf_mlm._shared import t5_lengths
from tf_mlm._tf import t5 as _kernels

ID_DTYPES = (tf.int32, tf.int64)


def sentinel_id(vocabulary, return_value=None):
    """The id of the first sentinel: the vocabulary's last id, or
    ``return_value`` when given."""
    if return_value is not None:
        return return_value
    return vocabulary.vocab_size - 1


def _one_row(length) -> tf.Tensor:
    length = tf.cast(length, tf.int64)
    return tf.stack([tf.constant(0, tf.int64), length])


def _seeds_2x2(seeds) -> tf.Tensor:
    seeds = tf.convert_to_tensor(seeds)  # [2, 2], or a list of two [2] seeds
    return tf.reshape(seeds, [2, 2])


def _roll(mask, length, seeds):
    """t5's random roll, computed in the seeds' own dtype (an int32 seed pair
    wraps at 32 bits, which the kernel's int64 roll seed does not)."""
    roll_seed = tf.stack([seeds[0, 0] + seeds[1, 1], seeds[0, 1] - seeds[1, 0]])
    span = tf.maximum(tf.cast(length, tf.int32), 2)
    offset = tf.random.stateless_uniform(
        [1], seed=roll_seed, dtype=tf.int32, minval=0, maxval=span
    )[0]
    return tf.roll(mask, shift=offset, axis=0)


def random_spans_noise_mask(
    length, noise_density, seeds, mean_noise_span_length=3.0, random_roll=False
):
    """A ``[length]`` boolean mask of noise spans, alternating non-noise and
    noise spans (starting with non-noise), ``round(length * noise_density)``
    noise tokens in ``round(noise / mean_noise_span_length)`` spans, all
    such masks equally likely for the two ``seeds`` (``[2, 2]``: the noise
    span lengths' seed, then the non-noise span lengths').

    With ``random_roll`` the mask is rolled by a random offset, so that a
    single span is not always at the end.
    """
    if noise_density == 0.0:
        return tf.zeros(length, tf.bool)
    seeds = _seeds_2x2(seeds)
    roll_in_kernel = random_roll and seeds.dtype == tf.int64
    length = tf.convert_to_tensor(length)
    out = _kernels.corrupt(
        tf.zeros(tf.reshape(length, [1]), tf.int32),
        _one_row(length),
        tf.cast(seeds, tf.int64)[tf.newaxis],
        noise_density,
        mean_noise_span_length,
        roll_in_kernel,
        0,
    )
    mask = out.noise_mask
    if random_roll and not roll_in_kernel:
        mask = _roll(mask, length, seeds)
    return mask


def prefix_range(length, noise_density):
    """``(shortest, last)``: a prefix of ``length`` tokens (any shape)
    takes ``shortest`` to ``last`` of them, ``shortest`` being
    ``round((1 - 2 * noise_density) * (length - 1))`` in float32, at least
    1, and ``last`` ``length - 1`` (int32)."""
    if noise_density > 0.5:
        raise NotImplementedError("noise density must not exceed 0.5 for random_prefix_noise_mask")
    last = tf.cast(length, tf.int32) - 1
    fraction = tf.constant(1 - 2 * noise_density, tf.float32)
    shortest = tf.cast(tf.math.round(fraction * tf.cast(last, tf.float32)), tf.int32)
    return tf.minimum(last, tf.maximum(1, shortest)), last


def random_prefix_noise_mask(length, noise_density, seeds):
    """Noise on a prefix: the first ``k`` tokens, ``k`` uniform between
    ``round((1 - 2 * noise_density) * (length - 1))`` (at least 1) and
    ``length - 1``, drawn with ``seeds[0]``. ``noise_density`` must be at
    most 0.5 (``NotImplementedError``)."""
    shortest, last = prefix_range(length, noise_density)
    prefix = tf.random.stateless_uniform(
        [], minval=shortest, maxval=last + 1, dtype=tf.int32, seed=seeds[0]
    )
    return tf.range(length, dtype=tf.int32) < prefix


def _composed_sentinels(tokens, noise_mask, first_sentinel):
    """The sentinel pass in TensorFlow ops (ids of other dtypes than the
    kernel's int32 / int64)."""
    after_noise = tf.concat([[False], noise_mask[:-1]], axis=0)
    span_start = noise_mask & ~after_noise
    span_index = tf.cumsum(tf.cast(span_start, tokens.dtype))
    replaced = tf.where(span_start, tf.cast(first_sentinel + 1, tokens.dtype) - span_index, tokens)
    return tf.boolean_mask(replaced, ~(noise_mask & after_noise))


def _sentinel_pass(tokens, noise_mask, vocabulary, nonnoise):
    tokens = tf.convert_to_tensor(tokens)
    noise_mask = tf.convert_to_tensor(noise_mask)
    first = sentinel_id(vocabulary)
    if tokens.dtype not in ID_DTYPES:
        return _composed_sentinels(tokens, ~noise_mask if nonnoise else noise_mask, first)
    out = _kernels.sentinels(tokens, _one_row(tf.size(tokens)), noise_mask, first)
    return out.targets if nonnoise else out.inputs


def noise_span_to_unique_sentinel(tokens, noise_mask, vocabulary, seeds):
    """``tokens`` with each noise span replaced by one sentinel: the k-th
    span by ``vocabulary.vocab_size - 1 - k``. ``seeds`` is unused."""
    del seeds
    return _sentinel_pass(tokens, noise_mask, vocabulary, nonnoise=False)


def nonnoise_span_to_unique_sentinel(tokens, noise_mask, vocabulary, seeds):
    """``tokens`` with each non-noise span replaced by one sentinel (the
    targets of span corruption). ``seeds`` is unused."""
    del seeds
    return _sentinel_pass(tokens, noise_mask, vocabulary, nonnoise=True)


def random_spans_helper(
    inputs_length,
    noise_density,
    mean_noise_span_length,
    extra_tokens_per_span_inputs,
    extra_tokens_per_span_targets,
    verbose=False,
):
    """``(tokens_length, targets_length)``: the most raw tokens whose
    corrupted inputs (with EOS) fit in ``inputs_length``, and the length of
    their targets (with EOS)."""
    tokens_length, targets_length, encoded_inputs = t5_lengths.raw_lengths(
        inputs_length,
        noise_density,
        mean_noise_span_length,
        extra_tokens_per_span_inputs,
        extra_tokens_per_span_targets,
    )
    if verbose:
        logging.info(
            "tokens_length=%s inputs_length=%s targets_length=%s noise_density=%s "
            "mean_noise_span_length=%s",
            tokens_length,
            encoded_inputs,
            targets_length,
            noise_density,
            mean_noise_span_length,
        )
    return tokens_length, targets_length
