"""The Keras layer's arguments beyond keras_hub's checks: the names of its
options in the core's messages, and the shapes and types of the masking
strategies' arguments (tf_mlm extensions; their ranges are the core's).
"""

from __future__ import annotations

import numpy as np

from tf_mlm._shared.args import id_list, whole_number

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


def keras_hub_arguments(
    vocabulary_size, mask_token_id, mask_selection_length, unselectable_token_ids
):
    """keras_hub's arguments as ints and a list of ints: whole numbers
    (keras_hub takes ``2.0`` for 2), and keras_hub's own check of the mask
    id, with its wording."""
    vocabulary_size = whole_number("vocabulary_size", vocabulary_size)
    mask_token_id = whole_number("mask_token_id", mask_token_id)
    if mask_token_id >= vocabulary_size:
        raise ValueError(
            "Mask token id should be in range [0, vocabulary_size - 1], but received "
            f"mask_token_id={mask_token_id} (vocabulary_size={vocabulary_size})."
        )
    if mask_selection_length is not None:
        mask_selection_length = whole_number("mask_selection_length", mask_selection_length)
    unselectable_token_ids = id_list(
        "unselectable_token_ids", [] if unselectable_token_ids is None else unselectable_token_ids
    )
    return vocabulary_size, mask_token_id, mask_selection_length, unselectable_token_ids


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
