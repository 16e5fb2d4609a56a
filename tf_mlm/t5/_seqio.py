"""seqio, which the drop-in needs, and the per-example seeds it hands out.

t5's seeded preprocessors are ``seqio.map_over_dataset(num_seeds=...)``
functions: each application takes the next pair of ``Dataset.random`` seeds
from ``seqio.utils._NEXT_MAP_SEED`` (set by ``map_seed_manager`` or
``Task.get_dataset(seed=...)``) and zips its input with those streams.
:func:`seed_streams` lets seqio advance its counter as for one such
application and makes the same streams, to be batched beside a batched
dataset.
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


def skip_seeded_map() -> None:
    """Advances seqio's seed counter as one seeded map whose seed is unused
    would (t5's ``split_tokens`` with a fixed segment length)."""
    map_seeded(_pass_seed)(tf.data.Dataset.from_tensors(0))


def _seed_arguments() -> tuple:
    """The ``seed`` arguments of the two ``Dataset.random`` streams the next
    ``map_over_dataset(num_seeds=1)`` application would make, advancing
    seqio's counter as that application does. Without a map seed they are
    ``None``: TensorFlow's global seed and op seed counter decide (each
    ``Dataset.random(seed=None)`` takes the next op seed, so these streams
    are made instead of seqio's, not besides them), or fresh seeds are drawn."""
    start = seqio.utils._NEXT_MAP_SEED
    if start is None:
        return None, None
    skip_seeded_map()
    return int(start), int(start) + 1


def seed_streams() -> tuple:
    """The two ``Dataset.random`` streams of per-example seed halves that
    the next ``map_over_dataset(num_seeds=1)`` application would zip with
    its elements: the ``i``-th elements are the ``i``-th example's seed.
    Made here from the seeds that application would take, so that they can
    be batched beside a batched dataset."""
    return tuple(tf.data.Dataset.random(seed=s) for s in _seed_arguments())


def zip_seeds(dataset: tf.data.Dataset, batch_size: int, ragged: bool = True) -> tf.data.Dataset:
    """``(batch, seeds)``: ``dataset`` batched (ragged-batched with
    ``ragged``), each batch with the ``[batch_size, 2]`` int64 seeds of
    its elements and the next ones (the last batch may be shorter than its
    seeds)."""
    first, second = (s.batch(batch_size) for s in seed_streams())
    seeds = tf.data.Dataset.zip((first, second)).map(lambda a, b: tf.stack([a, b], axis=1))
    batches = dataset.ragged_batch(batch_size) if ragged else dataset
    return tf.data.Dataset.zip((batches, seeds))


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
