"""UL2's mixture of denoisers (Tay et al., 2022, "UL2: Unifying Language
Learning Paradigms"): ``ul2_objective``, with the arguments of the function
the paper's appendix publishes.

One pipeline serves all the denoisers: documents are chunked and merged
128 at a time (one map call), each merged block is cut into pieces whose
denoisers are drawn one after the other at the configured rates (each
piece as long as its denoiser's inputs allow), and the pieces are denoised
128 at a time: the span denoisers' rows through the fused kernel, one call
per denoiser with its mean span length and density, the prefix LM rows
split at a uniform point, every row given its task prefix. Without
``shard_ds`` every denoiser runs such a pipeline over all the documents
and ``tf.data.Dataset.sample_from_datasets`` draws between them.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Union

import tensorflow as tf

from tf_mlm._tf import t5 as _kernels
from tf_mlm.t5 import _seqio
from tf_mlm.t5 import datasets as _datasets
from tf_mlm.t5 import noise as _noise
from tf_mlm.t5 import prefix as _prefix

AUTOTUNE = tf.data.AUTOTUNE
# fold-ins of a batch's seed: the denoisers' draws, the pieces' mask seeds
_DRAW_SALT, _PIECE_SALT = 0x5C2, 0x5C3
PREFIX_LM_NOISE_DENSITY = 0.5  # the S-denoiser's: a prefix of 1 .. n - 1 tokens

TaskPrefix = Union[str, Sequence[int], None]


class _Denoiser(NamedTuple):
    tokens_length: int  # of its pieces
    span: Optional[tuple]  # (mean_noise_span_length, noise_density); None for prefix LM


def _check(mean_noise_span_lengths, noise_densities, num_tasks, prefixes, rates):
    if len(mean_noise_span_lengths) != len(noise_densities):
        raise ValueError(
            f"mean_noise_span_lengths ({len(mean_noise_span_lengths)}) and noise_densities "
            f"({len(noise_densities)}) must have one value per span denoiser"
        )
    if num_tasks == 0:
        raise ValueError("ul2_objective needs at least one denoiser")
    if prefixes and len(prefixes) != num_tasks:
        raise ValueError("Number of task prefixes must match number of tasks.")
    if rates is not None:
        if len(rates) != num_tasks:
            raise ValueError(f"rates has {len(rates)} values for {num_tasks} tasks")
        if min(rates) < 0 or sum(rates) <= 0:
            raise ValueError(f"rates must be non-negative with a positive sum, got {rates}")


def _prefix_table(prefixes, num_tasks, vocabulary) -> tf.RaggedTensor:
    """``[num_tasks, (ids)]``: each denoiser's task prefix as token ids (a
    string encoded with ``vocabulary``; ``""`` or ``None`` for none)."""
    rows = []
    for prefix in prefixes or [None] * num_tasks:
        if prefix is None or len(prefix) == 0:
            rows.append(tf.zeros([0], tf.int64))
        elif isinstance(prefix, str):
            rows.append(tf.cast(tf.reshape(vocabulary.encode_tf(prefix), [-1]), tf.int64))
        else:
            rows.append(tf.constant(list(prefix), tf.int64, shape=[len(prefix)]))
    lengths = tf.stack([tf.size(r, tf.int64) for r in rows])
    return tf.RaggedTensor.from_row_lengths(tf.concat(rows, axis=0), lengths)


def _chunks(batch: tf.RaggedTensor, seeds) -> tf.RaggedTensor:
    """``select_random_chunk(max_length=65536)`` of a batch of documents:
    rows that fit whole, a longer row one of its chunks."""
    lengths = tf.cast(batch.row_lengths(), tf.int32)
    max_length = _datasets.CHUNK_LENGTH

    def starts():
        return tf.map_fn(
            lambda a: _datasets.chunk_start(a[0], max_length, a[1]),
            (lengths, seeds),
            fn_output_signature=tf.int32,
        )

    start = tf.cond(tf.reduce_any(lengths > max_length), starts, lambda: tf.zeros_like(lengths))
    end = tf.minimum(start + max_length, lengths)
    offsets = tf.cast(batch.row_starts(), tf.int32)
    positions = tf.ragged.range(start + offsets, end + offsets)
    return tf.RaggedTensor.from_row_lengths(
        tf.gather(batch.values, positions.flat_values), tf.cast(end - start, tf.int64)
    )


def _cut(blocks: tf.RaggedTensor, lengths, logits, seed):
    """Each block cut into consecutive pieces, each piece's denoiser drawn
    (``logits``) and the piece as long as that denoiser's ``lengths`` (the
    last piece of a block shorter): ``(pieces, denoisers)``."""
    block_lengths = blocks.row_lengths()
    most = tf.reduce_max(tf.concat([block_lengths, [0]], axis=0))
    draws_per_block = tf.cast((most + min(lengths) - 1) // min(lengths), tf.int32)
    nblocks = blocks.nrows()
    tasks = tf.random.stateless_categorical(
        tf.tile(logits[tf.newaxis], [nblocks, 1]), draws_per_block, seed
    )
    piece_lengths = tf.gather(tf.constant(lengths, tf.int64), tasks)
    ends = tf.cumsum(piece_lengths, axis=1)
    starts = ends - piece_lengths
    kept = starts < block_lengths[:, tf.newaxis]
    ends = tf.minimum(ends, block_lengths[:, tf.newaxis])
    offsets = blocks.row_starts()[:, tf.newaxis]
    starts = tf.boolean_mask(starts + offsets, kept)
    ends = tf.boolean_mask(ends + offsets, kept)
    positions = tf.ragged.range(starts, ends)
    pieces = tf.RaggedTensor.from_row_lengths(
        tf.gather(blocks.values, positions.flat_values), ends - starts
    )
    return pieces, tf.boolean_mask(tasks, kept)


def _denoise(pieces: tf.RaggedTensor, tasks, denoisers, first_sentinel, seed):
    """``(inputs, targets)`` of each piece by its denoiser: one kernel call
    per span denoiser on its rows, the prefix LM rows split in two."""
    mask_seeds = tf.random.stateless_uniform(
        [pieces.nrows(), 2, 2], seed=seed, dtype=tf.int64, minval=None, maxval=None
    )
    rows, inputs, targets = [], [], []
    for task, denoiser in enumerate(denoisers):
        picked = tf.where(tf.equal(tasks, task))[:, 0]
        mine = tf.gather(pieces, picked)
        if denoiser.span is None:
            prefixes, rests = _prefix.split_rows(
                mine, tf.gather(mask_seeds, picked)[:, 0], PREFIX_LM_NOISE_DENSITY
            )
            inputs.append(prefixes)
            targets.append(rests)
        else:
            mean, density = denoiser.span
            out = _kernels.corrupt(
                mine.values, mine.row_splits, tf.gather(mask_seeds, picked), density, mean,
                False, first_sentinel,
            )  # fmt: skip
            inputs.append(tf.RaggedTensor.from_row_splits(out.inputs, out.inputs_row_splits))
            targets.append(tf.RaggedTensor.from_row_splits(out.targets, out.targets_row_splits))
        rows.append(picked)
    order = tf.math.invert_permutation(tf.concat(rows, axis=0))
    return tf.gather(tf.concat(inputs, axis=0), order), tf.gather(tf.concat(targets, axis=0), order)


def _mixture(dataset, denoisers, logits, prefixes, options):
    """One pipeline of ``denoisers``: 128 documents per map call, chunked
    (and merged), cut into pieces with their denoisers drawn, denoised,
    prefixed; one element per piece."""
    merge, seed, first_sentinel, input_key = options
    lengths = [d.tokens_length for d in denoisers]
    docs = dataset  # empty documents give no pieces
    if set(docs.element_spec) != {"targets"}:
        docs = docs.map(lambda x: {"targets": x["targets"]}, num_parallel_calls=AUTOTUNE)
    batches = _seqio.zip_seeds(docs, _datasets.CONCAT_BATCH)

    def examples(batch, seeds):
        batch = batch["targets"]
        if not isinstance(batch, tf.RaggedTensor):  # documents of one static length
            batch = tf.RaggedTensor.from_tensor(batch, row_splits_dtype=tf.int64)
        seeds = seeds[: batch.nrows()]
        chunks = _chunks(batch, seeds)
        if merge:
            values = tf.boolean_mask(chunks.values, tf.not_equal(chunks.values, 0))
            chunks = tf.RaggedTensor.from_row_lengths(values, tf.size(values, tf.int64)[None])
        draw_seed = tf.random.experimental.stateless_fold_in(seeds[0], _DRAW_SALT)
        if seed is not None:
            draw_seed = tf.random.experimental.stateless_fold_in(draw_seed, seed)
        pieces, tasks = _cut(chunks, lengths, logits, draw_seed)
        piece_seed = tf.random.experimental.stateless_fold_in(seeds[0], _PIECE_SALT)
        inputs, targets = _denoise(pieces, tasks, denoisers, first_sentinel, piece_seed)
        if prefixes is not None:
            inputs = tf.concat([tf.cast(tf.gather(prefixes, tasks), inputs.dtype), inputs], axis=1)
        return {input_key: inputs, "targets": targets}

    return _seqio.dense_elements(batches.map(examples, num_parallel_calls=AUTOTUNE).unbatch())


def ul2_objective(
    dataset: tf.data.Dataset,
    sequence_length,
    output_features,
    use_prefix_lm_task: bool = False,
    rates: Optional[Sequence[float]] = None,
    mean_noise_span_lengths: Sequence[float] = (3.0,),
    noise_densities: Sequence[float] = (0.15,),
    shard_ds: bool = True,
    optional_task_prefixes: Optional[Sequence[TaskPrefix]] = None,
    input_feature_key: str = "inputs",
    merge_examples_to_reduce_padding: bool = True,
    reserved_for_packing: Optional[int] = None,
    seed: Optional[int] = 7,
) -> tf.data.Dataset:
    """UL2's mixture of denoisers: span corruption with each pair of
    ``mean_noise_span_lengths`` and ``noise_densities`` (R- and
    X-denoisers), and prefix LM last when ``use_prefix_lm_task`` (the
    S-denoiser). Each record comes from one denoiser, drawn with
    probabilities ``rates`` (uniform when ``None``).

    The documents are chunked (at most 65,536 tokens each) and, with
    ``merge_examples_to_reduce_padding``, merged 128 at a time (zeros
    dropped). With ``shard_ds`` each merged block (each chunk without
    merging) is cut into consecutive pieces, each piece's denoiser drawn
    independently (the draws seeded by seqio's seeds and ``seed``): every
    token goes to one denoiser. A span denoiser's piece has as many tokens
    as fill ``sequence_length[input_feature_key]`` less
    ``reserved_for_packing`` once corrupted (as in
    :func:`~tf_mlm.t5.span_corruption`); a prefix LM piece that length, one
    fewer when the inputs feature appends EOS, split after a uniform
    ``1 .. n - 1`` tokens into inputs and targets. Without ``shard_ds``
    every denoiser reads every document, and the records are drawn between
    the denoisers by ``tf.data.Dataset.sample_from_datasets`` with ``seed``.

    ``optional_task_prefixes``, one per denoiser (prefix LM's last), are
    prepended to the inputs: a string is encoded with the inputs'
    vocabulary, a sequence of ints is taken as ids; ``""`` or ``None`` adds
    nothing. They come on top of the inputs length (reserve room with
    ``reserved_for_packing``). The corruption draws its seeds from seqio.
    No EOS is appended.
    """
    span_options = list(zip(mean_noise_span_lengths, noise_densities))
    num_tasks = len(span_options) + int(use_prefix_lm_task)
    _check(mean_noise_span_lengths, noise_densities, num_tasks, optional_task_prefixes, rates)
    inputs_length = sequence_length[input_feature_key] - (reserved_for_packing or 0)
    helped = [_noise.random_spans_helper(inputs_length, d, m, 1, 1) for m, d in span_options]
    if helped and sequence_length["targets"] < max(t for _, t in helped):
        raise ValueError(
            f"Expected max targets length for span corruption ({max(t for _, t in helped)}) "
            f"is greater than configured targets length ({sequence_length['targets']})"
        )
    spec = dataset.element_spec["targets"]
    if spec.dtype not in _noise.ID_DTYPES:
        raise TypeError(f"ul2_objective needs int32 or int64 token ids, got {spec.dtype.name}")
    if spec.shape.rank != 1:
        raise ValueError(f"ul2_objective needs documents of one dimension, got {spec.shape}")
    vocabulary = output_features["targets"].vocabulary
    inputs_feature = output_features.get(input_feature_key, output_features["targets"])
    if inputs_feature.vocabulary != vocabulary:
        raise ValueError(
            "ul2_objective creates inputs from the tokenized targets, but the task's inputs "
            "and targets have different vocabularies"
        )
    denoisers = [_Denoiser(n, span) for (n, _), span in zip(helped, span_options)]
    if use_prefix_lm_task:  # pieces of the inputs length, less the EOS the inputs get
        denoisers.append(_Denoiser(inputs_length - int(bool(inputs_feature.add_eos)), None))
    if min(d.tokens_length for d in denoisers) < 1:
        raise ValueError(
            f"an inputs length of {inputs_length} leaves no token to some denoiser's pieces "
            f"({[d.tokens_length for d in denoisers]})"
        )
    prefixes = _prefix_table(optional_task_prefixes, num_tasks, vocabulary)
    weights = [1.0] * num_tasks if rates is None else [float(r) for r in rates]
    options = (merge_examples_to_reduce_padding, seed, _noise.sentinel_id(vocabulary),
               input_feature_key)  # fmt: skip

    def mixture(tasks, task_weights):
        logits = tf.math.log(tf.constant(task_weights, tf.float32) / sum(task_weights))
        subset = [denoisers[t] for t in tasks]
        mine = tf.gather(prefixes, tasks) if optional_task_prefixes else None
        return _mixture(dataset, subset, logits, mine, options)

    if shard_ds:
        return mixture(list(range(num_tasks)), weights)
    copies = [mixture([t], [1.0]) for t in range(num_tasks)]
    return tf.data.Dataset.sample_from_datasets(copies, weights=rates, seed=seed)
