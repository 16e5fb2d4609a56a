"""Argument normalisation shared by tf_mlm's Python entry points (the NumPy
API, the collator, the Keras layer): ints, rates, id arrays, row splits,
seeds and the no-cap value. Types are checked here; ranges are checked by
the C++ core, the one owner of those rules and their messages.
"""

from __future__ import annotations

import numbers
import os
from typing import Optional, Tuple

import numpy as np

ID_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
# The cap meaning "no cap" (int64's largest value).
NO_CAP = 2**63 - 1
_U64 = 2**64
_INT64_RANGE = (-(2**63), 2**63 - 1)


def is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def int_arg(name: str, x) -> int:
    if not is_int(x):
        raise TypeError(f"`{name}` must be an int, got {x!r}")
    return int(x)


def rate_arg(name: str, x) -> float:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"`{name}` must be a real number in [0, 1], got {x!r}")
    return float(x)


def id_array(name: str, x, default_dtype=np.int64) -> np.ndarray:
    """`x` as an int32/int64 array, never silently cast (an empty Python
    sequence gets `default_dtype`)."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if not isinstance(x, np.ndarray) and arr.size == 0:
        arr = arr.astype(default_dtype)
    if arr.dtype not in ID_DTYPES:
        raise TypeError(f"`{name}` must hold int32 or int64 ids, got dtype {arr.dtype}")
    return arr


def vector(name: str, x, default_dtype=np.int64) -> np.ndarray:
    arr = id_array(name, x, default_dtype)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D, got shape {arr.shape}")
    return arr


def splits_list(row_splits) -> list:
    """One 1-D splits vector, or a list/tuple of them (outermost first)."""
    if isinstance(row_splits, np.ndarray):
        return [vector("row_splits", row_splits)]
    if not isinstance(row_splits, (list, tuple)):
        raise TypeError(
            "`row_splits` must be a 1-D integer array or a list of them, got "
            f"{type(row_splits).__name__}"
        )
    if row_splits and all(is_int(s) for s in row_splits):
        return [vector("row_splits", row_splits)]
    if not row_splits:
        raise ValueError("`row_splits` must not be empty")
    return [vector(f"row_splits[{i}]", s) for i, s in enumerate(row_splits)]


def resolve_seed(seed) -> Tuple[int, int]:
    """The 128-bit Philox seed ``(s0, s1)`` (each in ``[0, 2**64)``) of a
    ``seed`` argument.

    * ``None``: fresh entropy from the operating system.
    * an int ``s``: ``(s, 0)``, the TF ops' stateless seed ``[s, 0]``.
    * a pair ``(a, b)``: the TF ops' stateless seed ``[a, b]``.
    * a ``numpy.random.Generator``: two uint64 drawn from it (advancing it).

    Negative ints are taken modulo ``2**64``, as the TF kernels reinterpret
    their int64 seed.

    >>> resolve_seed(7), resolve_seed((-1, 2))
    ((7, 0), (18446744073709551615, 2))
    """
    if seed is None:
        raw = np.frombuffer(os.urandom(16), dtype=np.uint64)
        return int(raw[0]), int(raw[1])
    if isinstance(seed, np.random.Generator):
        raw = seed.integers(0, _U64, size=2, dtype=np.uint64)
        return int(raw[0]), int(raw[1])
    if is_int(seed):
        return _seed_word(int(seed)), 0
    if isinstance(seed, (tuple, list, np.ndarray)):
        if isinstance(seed, np.ndarray) and seed.ndim != 1:
            raise ValueError(f"`seed` must be a pair of ints, got an array of shape {seed.shape}")
        items = list(seed)
        if len(items) != 2:
            raise ValueError(f"`seed` must be a pair of ints, got {len(items)} values")
        if not all(is_int(x) for x in items):
            raise TypeError(f"`seed` must be a pair of ints, got {seed!r}")
        return _seed_word(int(items[0])), _seed_word(int(items[1]))
    raise TypeError(
        "`seed` must be None, an int, a pair of ints or a numpy.random.Generator, "
        f"got {type(seed).__name__}"
    )


def _seed_word(x: int) -> int:
    if not -(2**63) <= x < _U64:
        raise ValueError(f"`seed` values must be in [-2**63, 2**64), got {x}")
    return x % _U64


def whole_number(name: str, x) -> int:
    """An int, from an int or an integral float (keras_hub's graph path
    takes ``2.0`` for 2): ``TypeError`` for a non-number, ``ValueError`` for
    a fraction."""
    if is_int(x):
        return int(x)
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (float, np.floating)):
        raise TypeError(f"`{name}` must be an int, got {x!r}")
    if not float(x).is_integer():
        raise ValueError(f"`{name}` must be a whole number, got {x!r}")
    return int(x)


def id_list(name: str, value) -> list:
    """A list of Python ints, from a list, tuple or 1-D array of ints."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(is_int(i) for i in value):
        raise TypeError(f"`{name}` must be a list of ints, got {value!r}")
    return [int(i) for i in value]


def seed_pair(seed, name: str = "seed") -> Optional[Tuple[int, int]]:
    """None, or a stateless seed as two Python ints in int64's range; an int
    ``s`` stands for the pair ``(s, 0)`` (as ``[s, 0]`` for the TF ops)."""
    if seed is None:
        return None
    if is_int(seed):
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
    if not all(_INT64_RANGE[0] <= s <= _INT64_RANGE[1] for s in pair):
        raise ValueError(f"`{name}` must fit in int64, got {seed!r}")
    return pair
