"""Normalising the `input_ids` argument to a RaggedTensor and back."""

from __future__ import annotations

from typing import Callable, Tuple

import numpy as np
import tensorflow as tf

ID_DTYPES = (tf.int32, tf.int64)


def to_ragged(
    input_ids, name: str = "input_ids", ids_only: bool = True
) -> Tuple[tf.RaggedTensor, Callable]:
    """Returns ``(ragged, restore)`` where ``restore(r, merge=False)`` maps a
    RaggedTensor of the same structure back to the input's kind (dense stays
    dense); with ``merge=True`` dimensions ``1..`` are merged, so the result
    is ``[batch, (tokens)]`` (``[batch, tokens]`` for dense input).

    Accepts a RaggedTensor of rank >= 2, a dense Tensor or NumPy array of
    rank >= 2, or nested Python lists (ragged or not). With ``ids_only``
    the values must be int32/int64 ids (``TypeError`` otherwise); without
    it any dtype passes (the selectors compare tokens of any dtype).
    """
    if isinstance(input_ids, tf.RaggedTensor):
        rt, restore = input_ids, _merged
    else:
        if isinstance(input_ids, (list, tuple)):
            try:
                rt = tf.ragged.constant(input_ids)
            except (ValueError, TypeError) as e:
                raise ValueError(f"`{name}` could not be converted to a RaggedTensor: {e}") from e
            if not isinstance(rt, tf.RaggedTensor):
                raise ValueError(f"`{name}` must have rank >= 2, got rank {rt.shape.rank}")
            restore = _merged
        else:
            dense = tf.convert_to_tensor(
                np.asarray(input_ids) if isinstance(input_ids, np.ndarray) else input_ids
            )
            if ids_only:
                _check_dtype(dense.dtype, name)
            if dense.shape.rank is None:
                raise ValueError(f"`{name}` must have a known rank >= 2")
            if dense.shape.rank < 2:
                raise ValueError(
                    f"`{name}` must have rank >= 2 ([batch, (tokens), ...]), got "
                    f"rank {dense.shape.rank}"
                )
            rt = tf.RaggedTensor.from_tensor(dense, ragged_rank=dense.shape.rank - 1)
            static_shape = dense.shape

            def restore(r, merge=False):
                out = tf.ensure_shape(r.to_tensor(), static_shape)
                if merge and static_shape.rank > 2:
                    out = tf.reshape(out, [tf.shape(out)[0], -1])
                    out.set_shape(static_shape[:1].concatenate([static_shape[1:].num_elements()]))
                return out

    if ids_only:
        _check_dtype(rt.dtype, name)
    if rt.flat_values.shape.rank != 1:
        raise ValueError(
            f"`{name}` must be ragged in every inner dimension (flat_values of rank 1); got "
            f"flat_values of shape {rt.flat_values.shape}. Convert it with "
            f"tf.RaggedTensor.from_tensor(x, ragged_rank=x.shape.rank - 1)."
        )
    return rt, restore


def flat_mask(mask) -> tf.Tensor:
    """A selection mask (RaggedTensor or dense) as one flat bool per item."""
    if isinstance(mask, tf.RaggedTensor):
        return tf.cast(mask.flat_values, tf.bool)
    return tf.reshape(tf.cast(mask, tf.bool), [-1])


def _merged(r: tf.RaggedTensor, merge: bool = False) -> tf.RaggedTensor:
    """`r`, or with `merge` its tokens as `[batch, (tokens)]` (dims 1.. merged)."""
    return r.merge_dims(1, -1) if merge and r.ragged_rank > 1 else r


def _check_dtype(dtype, name):
    if dtype not in ID_DTYPES:
        raise TypeError(f"`{name}` must hold int32 or int64 ids, got dtype {dtype.name}")


def check_axis(rt: tf.RaggedTensor, axis) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"`axis` must be a Python int, got {axis!r}")
    axis = int(axis)
    if axis < 0:
        axis += rt.shape.rank
    if not 1 <= axis <= rt.ragged_rank:
        raise ValueError(
            f"`axis` must be in [1, {rt.ragged_rank}] for `input_ids` of shape "
            f"{rt.shape} (ragged rank {rt.ragged_rank}), got {axis}"
        )
    return axis


def item_row_splits(rt: tf.RaggedTensor, axis: int) -> tf.Tensor:
    """Row splits of the rank-2 partition batch rows -> items at `axis`."""
    splits = rt.nested_row_splits
    out = splits[0]
    for level in range(1, axis):
        out = tf.gather(splits[level], out)
    return out


def items_ragged(rt: tf.RaggedTensor, axis: int, item_values: tf.Tensor) -> tf.RaggedTensor:
    """`item_values` (one per element at level `axis`) with the nested
    structure of the dims 0..axis of `rt`."""
    return tf.RaggedTensor.from_nested_row_splits(
        item_values, rt.nested_row_splits[:axis], validate=False
    )


def with_empty_items_true(rt: tf.RaggedTensor, axis: int, item_mask: tf.Tensor) -> tf.Tensor:
    """tensorflow_text reports an item with no tokens (an empty word) as
    selected in its selection masks (a reduce_all over nothing); so do we.
    Such items never contribute a masked position."""
    if axis == rt.ragged_rank:
        return item_mask
    bounds = item_token_bounds(rt, axis)
    return tf.logical_or(item_mask, tf.equal(bounds[1:], bounds[:-1]))


def item_token_bounds(rt: tf.RaggedTensor, axis: int) -> tf.Tensor:
    """Row splits of the partition items at `axis` -> flat values (tokens)."""
    bounds = rt.nested_row_splits[axis]
    for level in range(axis + 1, rt.ragged_rank):
        bounds = tf.gather(rt.nested_row_splits[level], bounds)
    return bounds
