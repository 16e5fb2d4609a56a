"""Argument normalisation shared by tf_mlm's Python entry points (the NumPy
API, the collator, the Keras layer): ints, rates, id arrays, row splits and
the no-cap value (seeds: :mod:`tf_mlm._shared.seeds`). Types are checked
here; ranges are checked by the C++ core, the one owner of those rules and
their messages.
"""

from __future__ import annotations

import numbers

import numpy as np

ID_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
# The cap meaning "no cap" (int64's largest value).
NO_CAP = 2**63 - 1


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


def kernel_noise_density(noise_density):
    """``noise_density`` as the span-corruption kernels take it (float32),
    keeping t5's distinction between zero and a density float32 rounds to
    zero: t5 compares the Python float with 0 (no noise) and otherwise
    clamps the count up to one noise token, so a nonzero density that would
    round to 0.0 becomes float32's smallest normal value (or its negative).
    Tensors pass as they are.

    >>> kernel_noise_density(0.0), kernel_noise_density(1e-50) > 0
    (0.0, True)
    """
    if isinstance(noise_density, numbers.Real) and noise_density != 0:
        # The smallest normal float32: TensorFlow's kernels treat subnormals
        # as zero.
        tiny = float(np.finfo(np.float32).tiny)
        if np.float32(noise_density) == 0:
            return tiny if noise_density > 0 else -tiny
    return noise_density
