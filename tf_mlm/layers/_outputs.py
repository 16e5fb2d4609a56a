"""The Keras layer's outputs on its NumPy path (JAX, PyTorch, Grain): the
masking result as the backend's tensors (NumPy arrays inside Grain), ragged
outputs as lists of lists, in keras_hub's layout.
"""

from __future__ import annotations

import keras
import numpy as np

from tf_mlm.layers import _inputs as _in


def numpy_outputs(result, splits, shape, ragged, length, weight_dtype) -> dict:
    """The layer's output dict of a ``tf_mlm.numpy.MaskResult`` over an input
    of ``shape`` (ragged: row ``splits``); dense ``[rows, length]`` mask
    outputs when ``length`` is set."""
    grain = _in.in_grain()

    def dense(arr, dtype=None):
        arr = np.asarray(arr)
        if grain:
            return arr.astype(dtype) if dtype is not None else arr
        return keras.ops.convert_to_tensor(arr, dtype=dtype)

    def rows(flat, row_splits, dtype=None):
        flat = np.asarray(flat, dtype=dtype)
        return [part.tolist() for part in np.split(flat, np.asarray(row_splits)[1:-1])]

    if ragged:
        token_ids = rows(result.masked_values, splits)
    else:
        token_ids = dense(np.reshape(result.masked_values, shape))
    unbatched = not ragged and len(shape) == 1
    if length is not None:
        positions = np.asarray(result.masked_positions)
        ids = np.asarray(result.masked_ids)
        weights = np.asarray(result.masked_weights, np.float32)
        if unbatched:
            positions, ids, weights = positions[0], ids[0], weights[0]
        positions, ids = dense(positions), dense(ids)
        weights = dense(weights, weight_dtype)
    elif unbatched:
        positions = dense(result.masked_positions)
        ids = dense(result.masked_ids)
        weights = dense(np.ones(np.shape(result.masked_positions), np.float32), weight_dtype)
    else:
        pos_splits = result.masked_positions_row_splits
        positions = rows(result.masked_positions, pos_splits)
        ids = rows(result.masked_ids, pos_splits)
        weights = rows(np.ones(np.shape(result.masked_positions)), pos_splits, np.float64)
    return {
        "token_ids": token_ids,
        "mask_positions": positions,
        "mask_ids": ids,
        "mask_weights": weights,
    }
