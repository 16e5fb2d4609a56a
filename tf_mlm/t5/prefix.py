"""Prefix language modelling (Raffel et al., 2019): t5's ``prefix_lm`` and
the two token functions it denoises with.

Each piece of text is cut at one point: the tokens before it are the
inputs, the tokens after it the targets. The cut is t5's
``random_prefix_noise_mask`` (the prefix is the "noise").
"""

from __future__ import annotations

import tensorflow as tf

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


def prefix_denoise(pieces, output_features, noise_density=0.5, input_feature_key="inputs"):
    """Each piece's ``targets`` cut in two by ``random_prefix_noise_mask``:
    the prefix as the ``input_feature_key`` feature, the rest as
    ``targets`` (one seeded map, as t5's ``denoise``)."""
    return denoise(
        pieces,
        output_features,
        noise_density=noise_density,
        noise_mask_fn=_noise.random_prefix_noise_mask,
        inputs_fn=drop_nonnoise_tokens,
        targets_fn=drop_noise_tokens,
        input_feature_key=input_feature_key,
    )


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
    return prefix_denoise(pieces, output_features, noise_density)
