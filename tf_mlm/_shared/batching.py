"""Batching shared by :class:`tf_mlm.collator.MLMCollator` and
:mod:`tf_mlm.hf`: rows of ids padded into one ``[rows, width]`` array (in
C++, ``_core.pad_sequences``: either side, any fill and dtype, with an
attention mask), the padded width, the labels of a masking result, and the
batch as torch or jax tensors.

Imports neither TensorFlow nor torch nor jax (torch or jax only when asked
for their tensors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from tf_mlm import _core

if TYPE_CHECKING:
    from tf_mlm.numpy import MaskResult

LABEL_IGNORE = -100  # PyTorch's CrossEntropyLoss ignore_index, HuggingFace's label pad


def padded_width(longest: int, pad_to_multiple_of: Optional[int]) -> int:
    """The width of a batch whose longest row has ``longest`` ids: that,
    rounded up to a multiple of ``pad_to_multiple_of`` when it is not None."""
    if pad_to_multiple_of is not None:
        return -(-longest // pad_to_multiple_of) * pad_to_multiple_of
    return longest


def pad_rows(
    rows,
    width: int,
    fill: int,
    dtype=np.int64,
    padding_side: str = "right",
    *,
    out: Optional[np.ndarray] = None,
    mask_out: Optional[np.ndarray] = None,
    integers_only: bool = False,
) -> np.ndarray:
    """``rows`` (a list or tuple of 1-D arrays, lists, tensors, or dicts
    holding one under ``"input_ids"``, each at most ``width`` long) in a
    ``[len(rows), width]`` array of ``dtype`` (``out`` when given, a
    C-contiguous array of that shape): each row at the start
    (``padding_side="right"``) or the end (``"left"``) of its own, the rest
    ``fill``. ``mask_out`` (None, or an array like ``out``) gets the
    attention mask: 1 on the rows' ids, 0 on the padding.

    Rows are converted to ``dtype`` as ``numpy.asarray(row, dtype)`` does;
    with ``integers_only`` a row NumPy reads as anything but integers or
    bools is a TypeError. The arguments are checked in C++
    (``_core.pad_sequences``)."""
    if out is None:
        out = np.empty((len(rows), width), dtype)
    _core.pad_sequences(
        rows,
        width,
        fill,
        out,
        mask_out,
        padding_side=padding_side,
        integers_only=integers_only,
    )
    return out


def result_labels(result: MaskResult, out: np.ndarray) -> np.ndarray:
    """Writes into ``out`` ([rows, width], the ids' dtype) the labels of a
    masking result over rows of that width: the original id at every
    recorded position (ragged, or dense with weights), -100 elsewhere."""
    if result.masked_weights is None:
        positions, position_splits = result.masked_positions, result.masked_positions_row_splits
        ids = result.masked_ids
    else:  # dense: the recorded positions come first in each row
        recorded = result.masked_weights > 0
        position_splits = np.zeros(out.shape[0] + 1, dtype=np.int64)
        np.cumsum(recorded.sum(axis=1), out=position_splits[1:])
        positions, ids = result.masked_positions[recorded], result.masked_ids[recorded]
    return _core.scatter_to_dense(
        positions, position_splits, ids, out.shape[1], LABEL_IGNORE, out=out
    )


def convert_batch(batch: dict, return_tensors: str) -> dict:
    """`batch` (a dict of NumPy arrays) as torch tensors ("pt", sharing memory),
    jax arrays ("jax") or as it is ("np")."""
    if return_tensors == "pt":
        import torch

        return {k: torch.from_numpy(v) for k, v in batch.items()}
    if return_tensors == "jax":
        import jax.numpy as jnp

        return {k: jnp.asarray(v) for k, v in batch.items()}
    return batch
