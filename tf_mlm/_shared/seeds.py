"""Every front end's reading of a ``seed`` argument, in one module.

All tf_mlm kernels are pure functions of a 128-bit Philox key (the TF ops'
int64 ``seed`` input of shape ``[2]``). A front end turns its ``seed``
argument into that key with one of the resolvers below; docs/semantics.md
("What a `seed` means in each front end") is the table of what each input
type means where, and ``tests/test_seed_table.py`` checks it row by row.

* :func:`philox_key`: ``tf_mlm.numpy``, ``MLMCollator``, the layer's NumPy
  path, ``tf_mlm.hf`` with a NumPy generator, ``DataCollatorForT5MLM``
  with a ``seed`` (draws from its stream). ``None``: OS entropy; an int
  ``s``: ``(s, 0)``; a pair ``(a, b)``; a NumPy ``Generator`` is drawn from.
* :func:`stateless_pair` and :func:`tf_layer_seed`: the Keras layer (int64
  range; on its TensorFlow path as a tensor). ``None`` / ``(s, 0)`` /
  ``(a, b)``.
* :func:`generator_key`: ``tf_mlm.hf``, a draw from the collator's
  generator (transformers' ``get_generator``) or the global one; the
  global NumPy one for ``DataCollatorForT5MLM`` without a ``seed``.
* :func:`tf_seed`: ``mask_language_model`` and the selectors and choosers.
  ``None``: a stateful draw; an int ``s``: an **op seed**; ``[a, b]``:
  stateless.
* :func:`span_mask_seeds`: ``tf_mlm.numpy.span_corruption``: one seed as
  :func:`philox_key` reads it, split into a seed per row (or per-row seeds).

The one difference is TensorFlow's: next to a stateful generator a Python
int is an *op seed* (``tf.random.uniform(..., seed=s)``), so
``mask_language_model(..., seed=7)`` repeats under ``tf.random.set_seed``
as tensorflow_text's ops do, while its stateless form is the pair ``[7, 0]``.
Everywhere else ``7`` is the stateless key ``(7, 0)``.

While :func:`mask_language_model` runs the composed path with a stateless
seed, it publishes that seed through :func:`stateless_scope`, so the
built-in selectors and choosers called through user subclasses draw from it.

TensorFlow is imported by the TensorFlow resolvers only, on first call.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import threading
from typing import Optional, Tuple

import numpy as np

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_U64 = 2**64
_local = threading.local()


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


# -- framework-free keys -----------------------------------------------------------


def philox_key(seed) -> Tuple[int, int]:
    """The 128-bit Philox key ``(s0, s1)`` (each in ``[0, 2**64)``) of a
    ``seed`` argument.

    * ``None``: fresh entropy from the operating system.
    * an int ``s``: ``(s, 0)``, the TF ops' stateless seed ``[s, 0]``.
    * a pair ``(a, b)``: the TF ops' stateless seed ``[a, b]``.
    * a ``numpy.random.Generator``: two uint64 drawn from it (advancing it).

    Negative ints are taken modulo ``2**64``, as the TF kernels reinterpret
    their int64 seed.

    >>> philox_key(7), philox_key((-1, 2))
    ((7, 0), (18446744073709551615, 2))
    """
    if seed is None:
        raw = np.frombuffer(os.urandom(16), dtype=np.uint64)
        return int(raw[0]), int(raw[1])
    if isinstance(seed, np.random.Generator):
        raw = seed.integers(0, _U64, size=2, dtype=np.uint64)
        return int(raw[0]), int(raw[1])
    if _is_int(seed):
        return _key_word(int(seed)), 0
    if isinstance(seed, (tuple, list, np.ndarray)):
        if isinstance(seed, np.ndarray) and seed.ndim != 1:
            raise ValueError(f"`seed` must be a pair of ints, got an array of shape {seed.shape}")
        items = list(seed)
        if len(items) != 2:
            raise ValueError(f"`seed` must be a pair of ints, got {len(items)} values")
        if not all(_is_int(x) for x in items):
            raise TypeError(f"`seed` must be a pair of ints, got {seed!r}")
        return _key_word(int(items[0])), _key_word(int(items[1]))
    raise TypeError(
        "`seed` must be None, an int, a pair of ints or a numpy.random.Generator, "
        f"got {type(seed).__name__}"
    )


def _key_word(x: int) -> int:
    if not INT64_MIN <= x < _U64:
        raise ValueError(f"`seed` values must be in [-2**63, 2**64), got {x}")
    return x % _U64


def stateless_pair(seed, name: str = "seed") -> Optional[Tuple[int, int]]:
    """None, or a stateless seed as two Python ints in int64's range (the
    Keras layer's ``seed``, which it also stores in its config); an int
    ``s`` stands for the pair ``(s, 0)``, as ``[s, 0]`` for the TF ops."""
    if seed is None:
        return None
    if _is_int(seed):
        pair = (int(seed), 0)
    else:
        try:
            arr = np.asarray(seed)
        except (TypeError, ValueError):
            arr = None
        if arr is None or arr.shape != (2,) or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(
                f"`{name}` must be None, an int or a pair of ints (shape [2]), got {seed!r}"
            )
        pair = (int(arr[0]), int(arr[1]))
    if not all(INT64_MIN <= s <= INT64_MAX for s in pair):
        raise ValueError(f"`{name}` must fit in int64, got {seed!r}")
    return pair


def generator_key(generator, kind: str) -> Tuple[int, int]:
    """A batch's key for ``tf_mlm.hf``, drawn as transformers draws its
    masks: from the collator's generator (a torch or NumPy generator, as
    ``get_generator`` made it), else from torch's (``"pt"``) or NumPy's
    (``"np"``) global generator."""
    if generator is None and kind == "np":
        return tuple(int(x) for x in np.random.randint(0, 2**62, size=2, dtype=np.int64))
    if isinstance(generator, np.random.Generator):
        return philox_key(generator)
    import torch

    # Two int64 draws over [0, 2**63).
    draws = torch.empty(2, dtype=torch.int64).random_(generator=generator)
    return tuple(int(x) for x in draws.tolist())


def span_mask_seeds(seed, rows: int) -> np.ndarray:
    """``tf_mlm.numpy.span_corruption``'s ``seed`` -> the ``[rows, 2, 2]``
    int64 seeds of the rows' noise masks: an integer array ``[rows, 2, 2]``
    (the masks' seeds), ``[rows, 2]`` (per-example seeds, split as t5's
    denoise splits them), or one seed as :func:`philox_key` reads it (split
    into a per-example seed for each row), as ``tf_mlm.span_corruption``
    reads its ``seed``."""
    from tf_mlm import _core

    if rows < 0:
        raise ValueError("`row_splits` must hold at least the leading 0")
    if isinstance(seed, np.ndarray) and seed.ndim in (2, 3):
        if not np.issubdtype(seed.dtype, np.integer):
            raise TypeError(f"`seed` arrays must hold integers, got dtype {seed.dtype}")
        out = seed.astype(np.int64)
    else:  # one seed for the batch: a per-example seed for each row
        key = np.array(philox_key(seed), dtype=np.uint64).view(np.int64)
        out = _core.stateless_split(key[np.newaxis], rows)[0]
    if out.ndim == 2:  # per-example seeds, as seqio gives them to t5's denoise
        out = _core.stateless_split(np.ascontiguousarray(out), 6)[:, :2]
    if out.shape != (rows, 2, 2):
        raise ValueError(f"`seed` must be [2], [rows, 2] or [rows, 2, 2], got {seed.shape}")
    return np.ascontiguousarray(out)


# -- TensorFlow seed tensors ---------------------------------------------------------


def as_stateless_seed(seed):
    """Validates a stateless seed and returns it as an int64 tensor [2]."""
    import tensorflow as tf

    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        raise TypeError(
            f"`seed` must be an int32 or int64 tensor of shape [2], got dtype {seed.dtype.name}"
        )
    if seed.shape.rank is not None and seed.shape.as_list() not in ([2], [None]):
        raise ValueError(f"`seed` must have shape [2], got {seed.shape}")
    return tf.cast(seed, tf.int64)


class _Holder:
    """Owner of the eagerly cached constants of :func:`fresh_seed`."""


_local_constants = _Holder()


def fresh_seed(op_seed=None):
    """A seed tensor drawn from TensorFlow's stateful RNG (honours
    ``tf.random.set_seed`` and the op seed ``op_seed``)."""
    import tensorflow as tf

    from tf_mlm._tf import constants

    shape, low, high = constants.cached(
        _local_constants,
        "seed_range",
        lambda: (
            tf.constant([2], tf.int32),
            tf.constant(INT64_MIN, tf.int64),
            tf.constant(INT64_MAX, tf.int64),
        ),
    )
    return tf.random.uniform(shape, minval=low, maxval=high, dtype=tf.int64, seed=op_seed)


def tf_seed(seed):
    """``seed`` as given to the tensorflow_text API: None or a Python int (an
    op seed, stateful), or a shape-[2] stateless seed. Inside a stateless
    scope the scope's seed wins when ``seed`` is None."""
    if seed is None:
        scoped = getattr(_local, "seed", None)
        return scoped if scoped is not None else fresh_seed()
    if _is_int(seed):
        return fresh_seed(seed)
    return as_stateless_seed(seed)


def tf_layer_seed(seed, layer_pair):
    """The Keras layer's seed tensor on its TensorFlow path: the call's
    ``seed`` (a shape-[2] tensor, an int or a pair), else the layer's
    stateless pair, else a fresh draw from TensorFlow's stateful RNG."""
    import tensorflow as tf

    if seed is not None:
        if isinstance(seed, tf.Tensor):
            return as_stateless_seed(seed)
        return tf.constant(stateless_pair(seed), tf.int64)
    if layer_pair is not None:
        return tf.constant(layer_pair, tf.int64)
    return fresh_seed()


@contextlib.contextmanager
def stateless_scope(seed):
    """Within the block, :func:`tf_seed` ``(None)`` returns ``seed``."""
    previous = getattr(_local, "seed", None)
    _local.seed = seed
    try:
        yield
    finally:
        _local.seed = previous
