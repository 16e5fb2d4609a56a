"""The Keras layer's output dict, in keras_hub's layout: on its TensorFlow
path (tensors, RaggedTensors) and on its NumPy path (JAX, PyTorch, Grain:
the backend's tensors, NumPy arrays inside Grain, ragged outputs as lists
of lists).
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


def tf_outputs(x, new_values, rest, length, unbatched, weight_dtype) -> dict:
    """The layer's output dict of a fused kernel call on input ``x``:
    ``rest`` is ``(positions, ids, weights)`` padded to ``length``, or
    ``(position values, position splits, id values)`` when ``length`` is
    None."""
    tf = _in.tf_module()
    if length is not None:
        positions, ids, weights = rest
        if weights.dtype != weight_dtype:
            weights = tf.cast(weights, weight_dtype)
        if unbatched:
            positions, ids, weights = (tf.reshape(t, [length]) for t in (positions, ids, weights))
        elif not tf.executing_eagerly():
            # keras_hub's static shape: [None, length] (its padding forgets
            # the batch size), so that element specs match.
            positions, ids, weights = (
                tf.compat.v1.placeholder_with_default(t, [None, length])
                for t in (positions, ids, weights)
            )
    else:
        pos_values, pos_splits, id_values = rest
        weight_values = tf.ones_like(pos_values, dtype=weight_dtype)
        if unbatched:  # one row: its values are the row
            positions, ids, weights = pos_values, id_values, weight_values
        else:
            positions, ids, weights = (
                tf.RaggedTensor.from_row_splits(v, pos_splits, validate=False)
                for v in (pos_values, id_values, weight_values)
            )
    if isinstance(x, tf.RaggedTensor):
        token_ids = x.with_flat_values(new_values)
    else:
        token_ids = tf.reshape(new_values, tf.shape(x))
        token_ids.set_shape(x.shape)
    return {
        "token_ids": token_ids,
        "mask_positions": positions,
        "mask_ids": ids,
        "mask_weights": weights,
    }
