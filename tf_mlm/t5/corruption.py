"""``denoise`` and ``span_corruption``: batches of examples through the
fused kernel, each example with the seed seqio hands its position."""

from __future__ import annotations

import functools
from typing import Optional, Sequence

import tensorflow as tf

from tf_mlm._tf import t5 as _kernels
from tf_mlm.t5 import _seqio
from tf_mlm.t5 import datasets as _datasets
from tf_mlm.t5 import noise as _noise

AUTOTUNE = tf.data.AUTOTUNE
# The feature span_corruption's merged pieces carry their lengths in (their
# targets padded to one width); a name no user feature has.
PIECE_LENGTH = "_tf_mlm_piece_length"

# which kernel output each sentinel function gives
_SENTINEL_OUTPUTS = {
    _noise.noise_span_to_unique_sentinel: "inputs",
    _noise.nonnoise_span_to_unique_sentinel: "targets",
    None: "tokens",
}


def _span_mask_options(noise_mask_fn):
    """``(mean_noise_span_length, random_roll)`` when ``noise_mask_fn`` is
    :func:`~tf_mlm.t5.random_spans_noise_mask`, possibly with those keywords
    bound by ``functools.partial``; else ``None``."""
    keywords, fn = {}, noise_mask_fn
    while isinstance(fn, functools.partial):
        if fn.args:
            return None
        keywords, fn = {**fn.keywords, **keywords}, fn.func
    if fn is not _noise.random_spans_noise_mask:
        return None
    if set(keywords) - {"mean_noise_span_length", "random_roll"}:
        return None
    return keywords.get("mean_noise_span_length", 3.0), keywords.get("random_roll", False)


def _as_ragged(tokens) -> tf.RaggedTensor:
    if isinstance(tokens, tf.RaggedTensor):
        return tokens
    return tf.RaggedTensor.from_tensor(tokens, row_splits_dtype=tf.int64)


def _fused_denoise(dataset, first_sentinel, noise_density, span_options, outputs, keys):
    """``denoise`` with a span mask and sentinel functions: one kernel call
    per batch. With the key ``PIECE_LENGTH``, the elements are ``targets``
    padded to one width, with their lengths (``span_corruption``'s pieces)."""
    mean, random_roll = span_options
    input_key, passthrough = keys
    padded = PIECE_LENGTH in dataset.element_spec
    kept = ["targets", *passthrough] + ([PIECE_LENGTH] if padded else [])
    if set(dataset.element_spec) != set(kept):
        dataset = dataset.map(lambda x: {k: x[k] for k in kept}, num_parallel_calls=AUTOTUNE)

    def corrupt(batch, seeds):
        if padded:
            tokens = tf.RaggedTensor.from_tensor(batch["targets"], lengths=batch[PIECE_LENGTH])
        else:
            tokens = _as_ragged(batch["targets"])
        seeds = _kernels.denoise_mask_seeds(seeds[: tokens.nrows()])
        out = _kernels.corrupt(
            tokens.values, tokens.row_splits, seeds, noise_density, mean, random_roll,
            first_sentinel,
        )  # fmt: skip
        results = {
            "inputs": tf.RaggedTensor.from_row_splits(out.inputs, out.inputs_row_splits, False),
            "targets": tf.RaggedTensor.from_row_splits(out.targets, out.targets_row_splits, False),
            "tokens": tokens,
        }
        features = {input_key: results[outputs[0]], "targets": results[outputs[1]]}
        features.update({k: batch[k] for k in passthrough})
        return features

    if padded:
        dataset = dataset.batch(_datasets.BATCH_SIZE)
    batches = _seqio.zip_seeds(dataset, _datasets.BATCH_SIZE, ragged=not padded)
    return _seqio.dense_elements(batches.map(corrupt, num_parallel_calls=AUTOTUNE).unbatch())


def _composed_denoise(dataset, vocabulary, noise_density, fns, keys):
    """``denoise`` with any functions: one example at a time."""
    noise_mask_fn, inputs_fn, targets_fn = fns
    input_key, passthrough = keys

    def example(features, seed):
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, _kernels.DENOISE_SPLITS))
        tokens = features["targets"]
        mask = noise_mask_fn(tf.size(tokens), noise_density, seeds=seeds[:2])
        inputs = inputs_fn(tokens, mask, vocabulary, seeds=seeds[2:4])
        targets = targets_fn(tokens, mask, vocabulary, seeds=seeds[4:6]) if targets_fn else tokens
        return {input_key: inputs, "targets": targets, **{k: features[k] for k in passthrough}}

    return _seqio.map_seeded(example)(dataset)


def denoise(
    dataset,
    output_features,
    noise_density,
    noise_mask_fn,
    inputs_fn,
    targets_fn=None,
    passthrough_feature_keys: Optional[Sequence[str]] = None,
    input_feature_key="inputs",
    **unused_kwargs,
):
    """Each example's ``targets`` tokens as a denoising pair: a noise mask
    from ``noise_mask_fn(length, noise_density, seeds)``, the
    ``input_feature_key`` feature from ``inputs_fn`` and ``targets`` from
    ``targets_fn`` (the tokens when ``None``), each function given its own
    pair of seeds split from the example's seed.

    With :func:`~tf_mlm.t5.random_spans_noise_mask` and the unique-sentinel
    functions, whole batches go through one kernel call."""
    passthrough = [k for k in (passthrough_feature_keys or ())]
    if input_feature_key in passthrough or "targets" in passthrough:
        raise ValueError(f"passthrough keys cannot contain '{input_feature_key}' or 'targets'")
    vocabulary = output_features["targets"].vocabulary
    if (
        input_feature_key in output_features
        and vocabulary != output_features[input_feature_key].vocabulary
    ):
        raise ValueError(
            "denoise creates inputs from the tokenized targets, but the task's inputs and "
            "targets have different vocabularies"
        )
    span_options = _span_mask_options(noise_mask_fn)
    passthrough = [k for k in dataset.element_spec if k in passthrough]
    keys = (input_feature_key, passthrough)
    outputs = (_SENTINEL_OUTPUTS.get(inputs_fn), _SENTINEL_OUTPUTS.get(targets_fn))
    tokens_spec = dataset.element_spec["targets"]
    if (
        span_options is not None
        and inputs_fn is not None
        and None not in outputs
        and isinstance(tokens_spec, tf.TensorSpec)
        and tokens_spec.dtype in _noise.ID_DTYPES
        and tokens_spec.shape.rank == 1
    ):
        first = _noise.sentinel_id(vocabulary)
        return _fused_denoise(dataset, first, noise_density, span_options, outputs, keys)
    fns = (noise_mask_fn, inputs_fn, targets_fn)
    return _composed_denoise(dataset, vocabulary, noise_density, fns, keys)


def _chunked_values(batch: tf.RaggedTensor, seeds, max_length) -> tf.Tensor:
    """The flat values of ``select_random_chunk(max_length=...)`` on a batch:
    rows that fit are kept whole, a longer row gives one of its chunks."""
    lengths = tf.cast(batch.row_lengths(), tf.int32)

    def cut():
        starts = tf.map_fn(
            lambda a: _datasets.chunk_start(a[0], max_length, a[1]),
            (lengths, seeds),
            fn_output_signature=tf.int32,
        )
        ends = tf.minimum(starts + max_length, lengths)
        offsets = tf.cast(batch.row_starts(), tf.int32)
        positions = tf.ragged.range(starts + offsets, ends + offsets)
        return tf.gather(batch.values, positions.flat_values)

    return tf.cond(tf.reduce_any(lengths > max_length), cut, lambda: batch.values)


def _merged_pieces(dataset, tokens_length):
    """``select_random_chunk``, ``reduce_concat_tokens`` and ``split_tokens``
    of ``span_corruption``, one batch of 128 documents (a concatenation) per
    map call, with their seeds."""
    docs = dataset.filter(lambda x: tf.size(x["targets"]) > 0)
    if set(docs.element_spec) != {"targets"}:
        docs = docs.map(lambda x: {"targets": x["targets"]}, num_parallel_calls=AUTOTUNE)
    batches = _seqio.zip_seeds(docs, _datasets.CONCAT_BATCH)  # select_random_chunk's seeds
    _seqio.skip_seeded_map()  # split_tokens' (unused with a fixed length)

    def concat_and_split(batch, seeds):
        batch = _as_ragged(batch["targets"])
        values = _chunked_values(batch, seeds[: batch.nrows()], _datasets.CHUNK_LENGTH)
        tokens = tf.boolean_mask(values, tf.not_equal(values, 0))
        splits = _datasets._segment_splits(tf.size(tokens), tokens_length)
        pieces = tf.RaggedTensor.from_row_splits(tokens, splits, validate=False)
        # padded to one width with their lengths: batched again without a map
        return {
            "targets": pieces.to_tensor(shape=[None, tokens_length]),
            PIECE_LENGTH: pieces.row_lengths(),
        }

    return batches.map(concat_and_split, num_parallel_calls=AUTOTUNE).unbatch()


def span_corruption(
    dataset,
    sequence_length,
    output_features,
    mean_noise_span_length=3.0,
    noise_density=0.15,
    input_feature_key="inputs",
    merge_examples_to_reduce_padding=True,
    reserved_for_packing=None,
    passthrough_feature_keys: Optional[Sequence[str]] = None,
):
    """T5's span corruption objective (Raffel et al., 2019) as t5's
    preprocessor computes it, for the same seqio seeds.

    Documents are cut to chunks of at most 65,536 tokens, merged 128 at a
    time (``merge_examples_to_reduce_padding``, zeros dropped), split into
    pieces that fill ``sequence_length[input_feature_key]`` (less
    ``reserved_for_packing``) once corrupted, and each piece corrupted with
    random noise spans (``noise_density``, ``mean_noise_span_length``),
    each span replaced by a sentinel in the inputs. No EOS is appended.
    """
    inputs_length = sequence_length[input_feature_key] - (reserved_for_packing or 0)
    tokens_length, targets_length = _noise.random_spans_helper(
        inputs_length, noise_density, mean_noise_span_length, 1, 1
    )
    if sequence_length["targets"] < targets_length:
        raise ValueError(
            f"Expected targets length for span corruption ({targets_length}) is greater than "
            f"configured targets length ({sequence_length['targets']})"
        )
    if merge_examples_to_reduce_padding:
        if passthrough_feature_keys:
            raise ValueError(
                "passthrough_feature_keys not supported with "
                f"merge_examples_to_reduce_padding=True. Got: {passthrough_feature_keys}"
            )
        pieces = _merged_pieces(dataset, tokens_length)
    else:
        passthrough = {"passthrough_feature_keys": passthrough_feature_keys}
        chunks = _datasets.select_random_chunk(
            dataset, output_features, max_length=_datasets.CHUNK_LENGTH, **passthrough
        )
        pieces = _datasets.split_tokens(chunks, max_tokens_per_segment=tokens_length, **passthrough)
    return denoise(
        pieces,
        output_features,
        noise_density=noise_density,
        noise_mask_fn=functools.partial(
            _noise.random_spans_noise_mask, mean_noise_span_length=mean_noise_span_length
        ),
        inputs_fn=_noise.noise_span_to_unique_sentinel,
        targets_fn=_noise.nonnoise_span_to_unique_sentinel,
        input_feature_key=input_feature_key,
        passthrough_feature_keys=passthrough_feature_keys,
    )
