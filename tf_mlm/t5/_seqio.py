"""seqio, which the drop-in needs, and the per-example seeds it hands out.

t5's seeded preprocessors are ``seqio.map_over_dataset(num_seeds=...)``
functions: each application takes the next pair of ``Dataset.random`` seeds
from ``seqio.utils._NEXT_MAP_SEED`` (set by ``map_seed_manager`` or
``Task.get_dataset(seed=...)``) and zips its input with those streams.
:func:`seed_stream` makes one such application through seqio itself, on an
endless dummy dataset, so the same seeds are drawn and the same counter is
advanced, and the seeds can be batched next to a batched dataset.
"""

from __future__ import annotations

import tensorflow as tf

try:
    import seqio
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        'tf_mlm.t5 needs seqio (t5\'s seeds and tasks): pip install "tf_mlm[t5]"',
        name=e.name,
    ) from e


def map_seeded(fn):
    """``fn(x, seed)`` mapped over a dataset with seqio's per-example seeds."""
    return seqio.map_over_dataset(num_seeds=1)(fn)


def _pass_seed(unused, seed):
    return tf.stack(seed)


def seed_stream() -> tf.data.Dataset:
    """The endless stream of per-example seeds (int64 pairs) that the next
    ``map_over_dataset(num_seeds=1)`` application would give its elements:
    element ``i`` is the seed of that application's ``i``-th element."""
    return map_seeded(_pass_seed)(tf.data.Dataset.from_tensors(0).repeat())


def skip_seeded_map() -> None:
    """Advances seqio's seed counter as one seeded map whose seed is unused
    would (t5's ``split_tokens`` with a fixed segment length)."""
    map_seeded(_pass_seed)(tf.data.Dataset.from_tensors(0))


def zip_seeds(dataset: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """``(batch, seeds)``: ``dataset`` ragged-batched, each batch with the
    ``[rows, 2]`` int64 seeds of its elements (from :func:`seed_stream`)."""
    seeds = seed_stream().batch(batch_size)
    return tf.data.Dataset.zip((dataset.ragged_batch(batch_size), seeds))


def _flat_ragged(spec) -> bool:
    return isinstance(spec, tf.RaggedTensorSpec) and spec.ragged_rank == 0


def dense_elements(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with plain ``TensorSpec`` components where ``unbatch`` left
    ragged specs of ragged rank 0 (whose values are tensors already), as
    t5's per-example maps give them."""
    specs = tf.nest.flatten(dataset.element_spec)
    if not any(_flat_ragged(s) for s in specs):
        return dataset
    return dataset.map(lambda *x: x[0] if len(x) == 1 else x, num_parallel_calls=tf.data.AUTOTUNE)
