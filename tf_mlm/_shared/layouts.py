"""Ragged batches as NumPy arrays, from the layouts data comes in: lists of
rows (of ids, or of words of ids) and right-padded 2-D arrays. Part of
:mod:`tf_mlm.numpy`, which exports the public functions.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from tf_mlm._shared.args import ID_DTYPES, id_array, int_arg, is_int


def ragged_from_sequences(sequences, dtype=None) -> Tuple[np.ndarray, list]:
    """``(values, row_splits)`` of a list of rows.

    Each row is a 1-D sequence of ids (giving one splits vector), or a list of
    words, each a 1-D sequence of ids (giving ``[row_splits, word_splits]``
    for whole-word masking with ``axis=1``). Splits are int64; values keep
    the rows' integer dtype (int64 for Python lists) unless ``dtype`` is given.

    >>> ragged_from_sequences([[5, 6, 7], [8]])
    (array([5, 6, 7, 8]), [array([0, 3, 4])])
    >>> values, splits = ragged_from_sequences([[[5], [6, 7]], [[8]]])
    >>> values, splits
    (array([5, 6, 7, 8]), [array([0, 2, 3]), array([0, 1, 3, 4])])
    """
    if isinstance(sequences, np.ndarray) and sequences.dtype != object:
        raise TypeError(
            "`sequences` must be a list of rows; for a padded 2-D array use ragged_from_padded"
        )
    if not isinstance(sequences, (list, tuple, np.ndarray)):
        raise TypeError(f"`sequences` must be a list of rows, got {type(sequences).__name__}")
    rows = list(sequences)
    if any(_is_word_list(row) for row in rows):
        words = []
        row_splits = np.zeros(len(rows) + 1, dtype=np.int64)
        for i, row in enumerate(rows):
            if not (_is_word_list(row) or isinstance(row, (list, tuple)) and not row):
                raise ValueError(
                    f"`sequences[{i}]` must be a list of words (1-D id sequences) "
                    "like the other rows"
                )
            words.extend(row)
            row_splits[i + 1] = row_splits[i] + len(row)
        values, word_splits = _flatten(words, "sequences", dtype)
        return values, [row_splits, word_splits]
    values, splits = _flatten(rows, "sequences", dtype)
    return values, [splits]


def _is_word_list(row) -> bool:
    """True for a row given as a non-empty list of words (sequences)."""
    return (
        isinstance(row, (list, tuple))
        and len(row) > 0
        and not is_int(row[0])
        and np.ndim(row[0]) == 1
    )


def _flatten(rows, name, dtype):
    if all(type(r) is np.ndarray and r.ndim == 1 and r.dtype in ID_DTYPES for r in rows):
        arrays = rows  # the common case of a collator, checked cheaply
    else:
        arrays = []
        for i, row in enumerate(rows):
            arr = id_array(f"{name}[{i}]", row)
            if arr.ndim != 1:
                raise ValueError(f"`{name}[{i}]` must be 1-D, got shape {arr.shape}")
            arrays.append(arr)
    splits = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum([a.shape[0] for a in arrays], out=splits[1:])
    if arrays:
        values = np.concatenate(arrays)
    else:
        values = np.zeros(0, dtype=np.int64)
    if dtype is not None:
        values = values.astype(dtype, copy=False)
    return id_array(name, values), splits


def ragged_from_padded(ids, pad_id) -> Tuple[np.ndarray, np.ndarray]:
    """``(values, row_splits)`` of a right-padded 2-D array.

    A row's length ends after its last id that is not ``pad_id`` (a ``pad_id``
    inside a row stays a token of it).

    >>> ragged_from_padded(np.array([[5, 6, 0], [7, 0, 0], [0, 0, 0]]), pad_id=0)
    (array([5, 6, 7]), array([0, 2, 3, 3]))
    """
    _, _, values, splits = _unpad(ids, pad_id)
    return values, splits


def _unpad(ids, pad_id):
    """(ids, token mask, values, row_splits) of a right-padded 2-D array."""
    ids = id_array("ids", ids)
    if ids.ndim != 2:
        raise ValueError(f"`ids` must be 2-D [rows, length], got shape {ids.shape}")
    keep = _padded_mask(ids, int_arg("pad_id", pad_id))
    splits = np.zeros(ids.shape[0] + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=splits[1:])
    return ids, keep, ids[keep], splits


def _padded_mask(ids: np.ndarray, pad_id: int) -> np.ndarray:
    """True for the tokens of each row (everything before trailing padding)."""
    rows, width = ids.shape
    not_pad = ids != pad_id
    trailing = np.argmax(not_pad[:, ::-1], axis=1) if width else np.zeros(rows, np.int64)
    lengths = np.where(not_pad.any(axis=1), width - trailing, 0)
    return np.arange(width) < lengths[:, None]
