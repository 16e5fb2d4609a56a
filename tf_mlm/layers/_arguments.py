"""The Keras layer's arguments beyond keras_hub's checks: the names of its
options in the core's messages, and the shapes and types of the masking
strategies' arguments (tf_mlm extensions; their ranges are the core's).
"""

from __future__ import annotations

import numpy as np

INT64_RANGE = (-(2**63), 2**63 - 1)
INT32_RANGE = (-(2**31), 2**31 - 1)
# The core's names of the options -> the layer's (keras_hub's and tf_mlm's
# extensions') names, for tf_mlm.options.MaskingOptions' messages.
ARGUMENT_NAMES = {
    "selection_rate": "mask_selection_rate",
    "vocab_size": "vocabulary_size",
    "mask_token": "mask_token_id",
    "max_selections": "mask_selection_length",
    "pad_to": "mask_selection_length",
    "span p": "span_p",
    "p": "span_p",
    "excluded_ids": "excluded_token_ids",
}


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
