"""Prefix language modelling (Raffel et al., 2019): t5's ``prefix_lm`` and
the two token functions it denoises with, and the same cut for a batch of
rows (UL2's S-denoiser).

Each piece of text is cut at one point: the tokens before it are the
inputs, the tokens after it the targets. The cut is t5's
``random_prefix_noise_mask`` (the prefix is the "noise"). ``prefix_lm``
maps one piece at a time, as t5 does: the cut is a few ops, and batching
the pieces would cost tf.data more per element than it saves. For a batch,
:func:`prefix_lengths` draws t5's prefix lengths at once: a length is
``shortest + u % (last + 1 - shortest)`` (TensorFlow's int32 uniform),
``u`` the first 32-bit word of the stream of the mask's seed, which is the
low half of the first seed split from it (``stateless_split`` takes the
stream's words in order): the kernels' batched stateless split gives them.
"""

from __future__ import annotations

import tensorflow as tf

from tf_mlm._tf import t5 as _kernels
from tf_mlm.t5 import datasets as _datasets
from tf_mlm.t5 import noise as _noise
from tf_mlm.t5.corruption import denoise


def drop_noise_tokens(tokens, noise_mask, vocabulary, seeds):
    """``tokens`` without the noise tokens (no sentinel in their place);
    ``vocabulary`` and ``seeds`` are unused."""
    del vocabulary, seeds
    return tf.boolean_mask(tokens, tf.logical_not(noise_mask))


def drop_nonnoise_tokens(tokens, noise_mask, vocabulary, seeds):
    """The noise tokens of ``tokens`` only (no sentinel in place of the
    others); ``vocabulary`` and ``seeds`` are unused."""
    del vocabulary, seeds
    return tf.boolean_mask(tokens, noise_mask)


def prefix_lengths(lengths, mask_seeds, noise_density):
    """``random_prefix_noise_mask``'s prefix length of each row of
    ``lengths`` tokens, drawn with its ``[rows, 2]`` int64 mask seed (the
    ``seeds[0]`` of the mask function), as t5 draws it."""
    shortest, last = _noise.prefix_range(lengths, noise_density)
    first_word = tf.bitwise.bitwise_and(
        _kernels.denoise_mask_seeds(mask_seeds)[:, 0, 0], tf.constant(0xFFFFFFFF, tf.int64)
    )
    choices = tf.cast(last + 1 - shortest, tf.int64)
    return tf.cast(shortest, tf.int64) + first_word % choices


def slices(tokens: tf.RaggedTensor, begin, end) -> tf.RaggedTensor:
    """Row ``i`` of ``tokens`` from ``begin[i]`` to ``end[i]``."""
    starts = tokens.row_starts()
    positions = tf.ragged.range(starts + begin, starts + end)
    return tf.RaggedTensor.from_row_lengths(
        tf.gather(tokens.values, positions.flat_values), end - begin
    )


def split_rows(tokens: tf.RaggedTensor, mask_seeds, noise_density):
    """``(prefixes, rests)`` of the rows of ``tokens``, each cut by
    :func:`prefix_lengths` with its mask seed."""
    lengths = tokens.row_lengths()
    cut = tf.maximum(prefix_lengths(lengths, mask_seeds, noise_density), 0)
    return slices(tokens, tf.zeros_like(cut), cut), slices(tokens, cut, lengths)


def prefix_lm(dataset, sequence_length, output_features, noise_density=0.5):
    """T5's prefix LM objective as t5's preprocessor computes it, for the
    same seqio seeds: a chunk of at most 65,536 tokens of each document,
    cut into pieces of ``sequence_length["inputs"]`` tokens (one fewer when
    the inputs feature appends EOS), each piece split at a random point
    into ``inputs`` (the prefix) and ``targets`` (the rest). The prefix
    length is uniform between ``round((1 - 2 * noise_density) * (n - 1))``
    (at least 1) and ``n - 1`` for a piece of ``n`` tokens; with the
    default 0.5, between 1 and ``n - 1``. ``noise_density`` above 0.5 is a
    ``NotImplementedError``. No EOS is appended."""
    chunks = _datasets.select_random_chunk(
        dataset,
        output_features=output_features,
        feature_key="targets",
        max_length=_datasets.CHUNK_LENGTH,
    )
    pieces = _datasets.split_tokens_to_inputs_length(
        chunks, output_features=output_features, sequence_length=sequence_length
    )
    return denoise(
        pieces,
        output_features,
        noise_density=noise_density,
        noise_mask_fn=_noise.random_prefix_noise_mask,
        inputs_fn=drop_nonnoise_tokens,
        targets_fn=drop_noise_tokens,
    )
