"""UL2's mixture of denoisers (Tay et al., 2022, "UL2: Unifying Language
Learning Paradigms"): ``ul2_objective``, with the arguments of the function
the paper's appendix publishes.

Each denoiser is a pipeline of its own over its share of the documents:
span corruption (R- and X-denoisers, one ``mean_noise_span_length`` and
``noise_density`` each) through :func:`~tf_mlm.t5.span_corruption`, whose
batches go through the fused kernel, and prefix LM (the S-denoiser). Their
examples, each with its denoiser's task prefix, are drawn at the
configured rates with ``tf.data.Dataset.sample_from_datasets``.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import tensorflow as tf

from tf_mlm.t5 import datasets as _datasets
from tf_mlm.t5 import noise as _noise
from tf_mlm.t5.corruption import span_corruption
from tf_mlm.t5.prefix import prefix_denoise

AUTOTUNE = tf.data.AUTOTUNE
PREFIX_LM_NOISE_DENSITY = 0.5  # the S-denoiser's: a prefix uniform over 1 .. n - 1 tokens

TaskPrefix = Union[str, Sequence[int], None]


def _targets_lengths(inputs_length, span_options):
    """Each span denoiser's targets length (with EOS) for its pieces."""
    return [
        _noise.random_spans_helper(inputs_length, density, mean, 1, 1)[1]
        for mean, density in span_options
    ]


def _prefix_ids(prefix: TaskPrefix, vocabulary) -> Optional[tf.Tensor]:
    """A task prefix as token ids: a string encoded with ``vocabulary``, a
    sequence of ints as given; ``None`` for an empty or no prefix."""
    if prefix is None or len(prefix) == 0:
        return None
    if isinstance(prefix, str):
        return tf.reshape(vocabulary.encode_tf(tf.constant(prefix)), [-1])
    return tf.constant(list(prefix))


def _prepend(dataset, ids: Optional[tf.Tensor], key):
    if ids is None:
        return dataset

    def add(x):
        return {**x, key: tf.concat([tf.cast(ids, x[key].dtype), x[key]], axis=0)}

    return dataset.map(add, num_parallel_calls=AUTOTUNE)


def _prefix_lm_task(
    dataset, sequence_length, output_features, input_feature_key, merge, reserved_for_packing
):
    """The S-denoiser: pieces of the inputs length (less one for an EOS the
    inputs feature appends), each cut at a uniform point."""
    feature = output_features.get(input_feature_key, output_features["targets"])
    tokens_length = sequence_length[input_feature_key] - (reserved_for_packing or 0)
    tokens_length -= 1 if feature.add_eos else 0
    chunks = _datasets.select_random_chunk(
        dataset, output_features, feature_key="targets", max_length=_datasets.CHUNK_LENGTH
    )
    if merge:
        chunks = _datasets.reduce_concat_tokens(
            chunks, feature_key="targets", batch_size=_datasets.CONCAT_BATCH
        )
    pieces = _datasets.split_tokens(chunks, max_tokens_per_segment=tokens_length)
    return prefix_denoise(pieces, output_features, PREFIX_LM_NOISE_DENSITY, input_feature_key)


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
    S-denoiser).

    With ``shard_ds`` the documents are dealt round robin to the denoisers
    (``dataset.shard``); without, every denoiser reads all of them. Each
    denoiser's share is then processed as by
    :func:`~tf_mlm.t5.span_corruption` (chunks, merged 128 at a time with
    ``merge_examples_to_reduce_padding``, pieces that fill
    ``sequence_length[input_feature_key]`` less ``reserved_for_packing``
    once corrupted) or, for prefix LM, cut into pieces of that length (one
    fewer when the inputs feature appends EOS), each split at a point
    uniform over ``1 .. n - 1`` into ``inputs`` and ``targets``.

    ``optional_task_prefixes``, one per denoiser (prefix LM's last), are
    prepended to the inputs: a string is encoded with the inputs'
    vocabulary, a sequence of ints is taken as ids; ``""`` or ``None`` adds
    nothing. They come on top of the inputs length (reserve room with
    ``reserved_for_packing``).

    The examples are drawn from the denoisers with probabilities ``rates``
    (uniform when ``None``) by ``tf.data.Dataset.sample_from_datasets``
    with ``seed``; a denoiser that runs out leaves the draws to the
    others. The corruption itself draws its seeds from seqio, as
    :func:`~tf_mlm.t5.span_corruption`. No EOS is appended.
    """
    if len(mean_noise_span_lengths) != len(noise_densities):
        raise ValueError(
            f"mean_noise_span_lengths ({len(mean_noise_span_lengths)}) and noise_densities "
            f"({len(noise_densities)}) must have one value per span denoiser"
        )
    span_options = list(zip(mean_noise_span_lengths, noise_densities))
    num_tasks = len(span_options) + int(use_prefix_lm_task)
    if num_tasks == 0:
        raise ValueError("ul2_objective needs at least one denoiser")
    if optional_task_prefixes and len(optional_task_prefixes) != num_tasks:
        raise ValueError("Number of task prefixes must match number of tasks.")
    if rates is not None and len(rates) != num_tasks:
        raise ValueError(f"rates has {len(rates)} values for {num_tasks} tasks")
    inputs_length = sequence_length[input_feature_key] - (reserved_for_packing or 0)
    targets_lengths = _targets_lengths(inputs_length, span_options)
    if targets_lengths and sequence_length["targets"] < max(targets_lengths):
        raise ValueError(
            f"Expected max targets length for span corruption ({max(targets_lengths)}) is "
            f"greater than configured targets length ({sequence_length['targets']})"
        )

    shards = [dataset.shard(num_tasks, i) if shard_ds else dataset for i in range(num_tasks)]
    tasks = [
        span_corruption(
            shard,
            sequence_length,
            output_features,
            mean_noise_span_length=mean,
            noise_density=density,
            input_feature_key=input_feature_key,
            merge_examples_to_reduce_padding=merge_examples_to_reduce_padding,
            reserved_for_packing=reserved_for_packing,
        )
        for shard, (mean, density) in zip(shards, span_options)
    ]
    if use_prefix_lm_task:
        tasks.append(
            _prefix_lm_task(
                shards[-1],
                sequence_length,
                output_features,
                input_feature_key,
                merge_examples_to_reduce_padding,
                reserved_for_packing,
            )
        )
    if optional_task_prefixes:
        vocabulary = output_features.get(input_feature_key, output_features["targets"]).vocabulary
        tasks = [
            _prepend(task, _prefix_ids(prefix, vocabulary), input_feature_key)
            for task, prefix in zip(tasks, optional_task_prefixes)
        ]
    return tf.data.Dataset.sample_from_datasets(tasks, weights=rates, seed=seed)
