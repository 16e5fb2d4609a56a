"""The Keras layer's inputs: Python lists, NumPy arrays, TensorFlow or other
backends' tensors, to TensorFlow tensors (the TensorFlow path) or to flat
values and row splits (the NumPy path); and which path a call takes.
"""

from __future__ import annotations

import sys

import keras
import numpy as np

from tf_mlm._shared.args import is_int

_INT32 = np.iinfo(np.int32)


def tf_module():
    """TensorFlow, when a process has it imported (never imports it)."""
    tf = sys.modules.get("tensorflow")
    return tf if tf is not None and hasattr(tf, "executing_eagerly") else None


def in_tf_graph() -> bool:
    """True while a tf.function or a tf.data function is being traced."""
    tf = tf_module()
    return tf is not None and not tf.executing_eagerly()


def in_grain() -> bool:
    try:
        from keras.src.utils.backend_utils import in_grain_data_pipeline
    except ImportError:
        return False
    return bool(in_grain_data_pipeline())


def python_ids(inputs):
    """Nested Python lists (or tuples) of ids -> ``("dense", array)`` or
    ``("ragged", values, row_splits)`` in NumPy. Ids default to int32 (as in
    keras_hub), int64 when they do not fit."""
    try:
        arr = np.asarray(inputs)
    except ValueError:  # inhomogeneous: a ragged batch
        arr = None
    if arr is not None and arr.dtype != object:
        if arr.size == 0 and arr.ndim >= 1:
            arr = arr.astype(np.int32)
        return ("dense", small_ints(arr, "inputs"))
    rows = [np.asarray(row) for row in inputs]
    for row in rows:
        if row.ndim != 1 or (row.size and not np.issubdtype(row.dtype, np.integer)):
            raise ValueError(
                "`inputs` given as lists must be a list of ids or a list of "
                f"lists of ids; got a row {row.tolist()!r}"
            )
    splits = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([row.size for row in rows], out=splits[1:])
    values = (
        np.concatenate([row.astype(np.int64) for row in rows]) if rows else np.zeros([0], np.int64)
    )
    return ("ragged", small_ints(values, "inputs"), splits)


def small_ints(arr, name):
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"`{name}` must hold integer token ids, got dtype {arr.dtype}")
    if arr.dtype == np.int64 and (
        arr.size == 0 or (arr.min() >= _INT32.min and arr.max() <= _INT32.max)
    ):
        return arr.astype(np.int32)
    return arr


def check_id_dtype(dtype_name):
    if dtype_name not in ("int32", "int64"):
        raise TypeError(f"`inputs` must hold int32 or int64 token ids, got dtype {dtype_name}")


def check_rank(rank):
    if rank not in (1, 2):
        raise ValueError(
            "`inputs` must be rank 1 (one sequence) or rank 2 (a batch of "
            f"sequences), got rank {rank}"
        )


def to_tf(inputs):
    import tensorflow as tf

    if isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
        return inputs
    if isinstance(inputs, (list, tuple)):
        parsed = python_ids(inputs)
        if parsed[0] == "dense":
            return tf.constant(parsed[1])
        return tf.RaggedTensor.from_row_splits(parsed[1], parsed[2], validate=False)
    if isinstance(inputs, np.ndarray):
        if inputs.dtype == object:
            return to_tf(inputs.tolist())
        return tf.constant(inputs)
    if keras.ops.is_tensor(inputs):  # another backend's tensor
        return tf.constant(keras.ops.convert_to_numpy(inputs))
    if is_int(inputs):
        check_rank(0)
    raise TypeError(
        "`inputs` must be a list, a NumPy array or a tensor of token ids, got "
        f"{type(inputs).__name__}"
    )


def to_numpy(inputs):
    """-> (values, row_splits, dense shape or None, is_ragged)."""
    tf = tf_module()
    if tf is not None and isinstance(inputs, tf.RaggedTensor):
        if inputs.shape.rank != 2 or inputs.flat_values.shape.rank != 1:
            raise ValueError(
                "ragged `inputs` must be a batch of sequences, "
                f"[batch, (tokens)], got shape {inputs.shape}"
            )
        return (
            inputs.flat_values.numpy(),
            inputs.row_splits.numpy().astype(np.int64),
            None,
            True,
        )
    if isinstance(inputs, (list, tuple)):
        parsed = python_ids(inputs)
        if parsed[0] == "ragged":
            return parsed[1], parsed[2], None, True
        arr = parsed[1]
    elif isinstance(inputs, np.ndarray):
        if inputs.dtype == object:
            return to_numpy(inputs.tolist())
        arr = inputs
    elif tf is not None and isinstance(inputs, tf.Tensor):
        arr = inputs.numpy()
    elif keras.ops.is_tensor(inputs):
        arr = keras.ops.convert_to_numpy(inputs)
    elif is_int(inputs):
        check_rank(0)
    else:
        raise TypeError(
            "`inputs` must be a list, a NumPy array or a tensor of token ids, "
            f"got {type(inputs).__name__}"
        )
    check_id_dtype(arr.dtype.name)
    check_rank(arr.ndim)
    rows, width = (1, arr.shape[0]) if arr.ndim == 1 else arr.shape
    splits = np.arange(rows + 1, dtype=np.int64) * width
    return np.ascontiguousarray(arr).reshape(-1), splits, arr.shape, False


def tf_rows(x):
    """``(values, row splits, unbatched)`` of the layer's TensorFlow input:
    a ragged ``[batch, (tokens)]`` batch, or a dense rank-1 / rank-2 one."""
    tf = tf_module()
    check_id_dtype(x.dtype.name)
    if isinstance(x, tf.RaggedTensor):
        if x.shape.rank != 2 or x.flat_values.shape.rank != 1:
            raise ValueError(
                "ragged `inputs` must be a batch of sequences, [batch, (tokens)], "
                f"got shape {x.shape}"
            )
        return x.flat_values, x.row_splits, False
    check_rank(x.shape.rank)
    unbatched = x.shape.rank == 1
    shape = tf.shape(x, out_type=tf.int64)
    rows, width = (1, shape[0]) if unbatched else (shape[0], shape[1])
    return tf.reshape(x, [-1]), tf.range(rows + 1, dtype=tf.int64) * width, unbatched
