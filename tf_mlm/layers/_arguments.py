"""The Keras layer's arguments beyond keras_hub's checks: option ranges
checked by the C++ core under the layer's names, and the masking
strategies' arguments (tf_mlm extensions).
"""

from __future__ import annotations

import numbers
import re

import numpy as np

from tf_mlm._args import NO_CAP

INT64_RANGE = (-(2**63), 2**63 - 1)
INT32_RANGE = (-(2**31), 2**31 - 1)
# The core's names of the options -> the layer's (keras_hub's) names.
ARGUMENT_NAMES = {
    "selection_rate": "mask_selection_rate",
    "vocab_size": "vocabulary_size",
    "mask_token": "mask_token_id",
    "max_selections": "mask_selection_length",
}


def validate_options(rate, length, vocabulary_size, mask_token_id, mask_rate, random_rate):
    """The core's checks of the options (the one owner of those rules), with
    the message naming the layer's arguments."""
    from tf_mlm import _core

    try:
        _core.validate_options(
            rate,
            NO_CAP if length is None else length,
            vocabulary_size,
            mask_token_id,
            mask_rate,
            random_rate,
        )
    except ValueError as e:
        message = re.sub(
            r"\b(" + "|".join(ARGUMENT_NAMES) + r")\b",
            lambda m: ARGUMENT_NAMES[m.group(1)],
            str(e),
        )
        raise ValueError(message) from None


def vector_arg(value, name, what):
    """`value` as a 1-D NumPy array (not yet type-checked)."""
    if isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"`{name}` must be a 1-D sequence of {what}, got {value!r}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a 1-D sequence of {what}, got {value!r}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 1-D sequence of {what}, got shape {arr.shape}"
        )
    return arr


def check_continuation_table(table, vocabulary_size):
    """None, or the table as a 1-D bool array of at most `vocabulary_size`."""
    if table is None:
        return None
    arr = vector_arg(table, "continuation_table", "bools over the vocabulary")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.integer) or not np.isin(arr, (0, 1)).all():
            raise TypeError(
                "`continuation_table` must hold bools (True for ids that continue "
                f"the previous word), got dtype {arr.dtype}"
            )
        arr = arr.astype(bool)
    if arr.size > vocabulary_size:
        raise ValueError(
            f"`continuation_table` has {arr.size} entries, more than "
            f"vocabulary_size={vocabulary_size}"
        )
    return arr


def check_span_p(p):
    if p is None:
        return None
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError(f"`span_p` must be None or a float in (0, 1], got {p!r}")
    if not 0.0 < float(p) <= 1.0:  # also rejects NaN
        raise ValueError(f"`span_p` must be in (0, 1], got span_p={p}")
    return float(p)


def check_frequencies(frequencies, vocabulary_size):
    """None, or the frequencies as a 1-D array of `vocabulary_size` numbers."""
    if frequencies is None:
        return None
    arr = vector_arg(frequencies, "replacement_frequencies", "numbers")
    if not (
        arr.dtype == bool
        or np.issubdtype(arr.dtype, np.integer)
        or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"`replacement_frequencies` must hold numbers, got dtype {arr.dtype}")
    if arr.size != vocabulary_size:
        raise ValueError(
            f"`replacement_frequencies` must have vocabulary_size "
            f"({vocabulary_size}) entries, got {arr.size}"
        )
    return arr


def numpy_replacement(vocabulary_size, excluded, frequencies):
    """tf_mlm.numpy's replacement tables (validating the options), with the
    errors naming the layer's arguments."""
    from tf_mlm import numpy as tfnp

    try:
        return tfnp.replacement_tables(
            vocabulary_size, excluded_ids=excluded, replacement_frequencies=frequencies
        )
    except ValueError as e:
        raise ValueError(str(e).replace("`excluded_ids`", "`excluded_token_ids`")) from None
