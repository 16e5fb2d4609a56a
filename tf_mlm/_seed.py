"""Where the randomness of tf_mlm's ops comes from.

All tf_mlm kernels are pure functions of an explicit ``seed`` input of shape
``[2]`` (int64). This module supplies that seed:

* Stateless: the caller passes ``seed=`` (a shape-[2] int tensor, list or
  tuple) to :func:`tf_mlm.mask_language_model`. Same input, same seed, same
  output, in eager mode, in ``tf.function`` and in ``tf.data``.
* Stateful (default, like tensorflow_text): a fresh seed is drawn from
  TensorFlow's own stateful RNG (``tf.random.uniform``), so
  ``tf.random.set_seed`` and op-level seeds behave exactly as for any
  ``tf.random`` op; without seeds every call gives fresh masks.

While :func:`mask_language_model` runs the composed path with a stateless
seed, it publishes that seed through :func:`stateless_scope`, so the built-in
selectors and choosers called through user subclasses draw from it.
"""

from __future__ import annotations

import contextlib
import threading

import tensorflow as tf

from tf_mlm import _constants

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_local = threading.local()


def as_stateless_seed(seed) -> tf.Tensor:
    """Validates a stateless seed and returns it as an int64 tensor [2]."""
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        raise TypeError(
            f"`seed` must be an int32 or int64 tensor of shape [2], got dtype {seed.dtype.name}"
        )
    if seed.shape.rank is not None and seed.shape.as_list() not in ([2], [None]):
        raise ValueError(f"`seed` must have shape [2], got {seed.shape}")
    return tf.cast(seed, tf.int64)


def fresh_seed(op_seed=None) -> tf.Tensor:
    """A seed drawn from TensorFlow's stateful RNG (honours set_seed)."""
    shape, low, high = _constants.cached(
        _local_constants,
        "seed_range",
        lambda: (
            tf.constant([2], tf.int32),
            tf.constant(_INT64_MIN, tf.int64),
            tf.constant(_INT64_MAX, tf.int64),
        ),
    )
    return tf.random.uniform(shape, minval=low, maxval=high, dtype=tf.int64, seed=op_seed)


class _Holder:
    """Owner of the eagerly cached constants of this module."""


_local_constants = _Holder()


def resolve(seed) -> tf.Tensor:
    """``seed`` as given to the public API: None or a Python int (an op seed,
    stateful), or a shape-[2] stateless seed. Inside a stateless scope the
    scope's seed wins when ``seed`` is None."""
    if seed is None:
        scoped = getattr(_local, "seed", None)
        return scoped if scoped is not None else fresh_seed()
    if isinstance(seed, int) and not isinstance(seed, bool):
        return fresh_seed(seed)
    return as_stateless_seed(seed)


@contextlib.contextmanager
def stateless_scope(seed):
    previous = getattr(_local, "seed", None)
    _local.seed = seed
    try:
        yield
    finally:
        _local.seed = previous
