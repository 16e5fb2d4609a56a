"""mask_language_model: BERT's dynamic masking of a ragged batch."""

from __future__ import annotations

import tensorflow as tf

from tf_mlm._shared import seeds as _seed
from tf_mlm._tf import fused as _fused
from tf_mlm._tf import library as _library
from tf_mlm._tf import ragged as _ragged
from tf_mlm.text.item_selector import ItemSelector, RandomItemSelector
from tf_mlm.text.mask_values_chooser import MaskValuesChooser
from tf_mlm.text.span_selector import SpanItemSelector


def _fused_kernel(item_selector, mask_values_chooser):
    """The fused kernel that does the selector's and chooser's work when
    nothing user-defined takes part (built-in classes, hooks untouched):
    ``"items"`` for the random selector with its default shuffle, ``"spans"``
    for the span selector; else None (the composed ops)."""
    sel_type, chooser_type = type(item_selector), type(mask_values_chooser)
    if (
        sel_type.get_selectable is not ItemSelector.get_selectable
        or chooser_type.get_mask_values is not MaskValuesChooser.get_mask_values
    ):
        return None
    if (
        isinstance(item_selector, SpanItemSelector)
        and sel_type.get_selection_mask is SpanItemSelector.get_selection_mask
    ):
        return "spans"
    if (
        isinstance(item_selector, RandomItemSelector)
        and item_selector.uses_default_shuffle
        and sel_type.get_selection_mask is RandomItemSelector.get_selection_mask
    ):
        return "items"
    return None


def mask_language_model(
    input_ids, item_selector, mask_values_chooser, axis=1, *, seed=None, keep_structure=False
):
    """Applies BERT's masked-LM masking to a batch of token ids.

    The ``item_selector`` picks items per row (tokens, or whole words when
    ``input_ids`` is ``[batch, (words), (wordpieces)]`` with ``axis=1``); every
    token of a picked item gets a new value from ``mask_values_chooser``.

    >>> ids = tf.ragged.constant([[101, 7, 8, 9, 102], [101, 5, 102]])
    >>> selector = tf_mlm.RandomItemSelector(
    ...     max_selections_per_batch=10, selection_rate=1.0, unselectable_ids=[101, 102])
    >>> chooser = tf_mlm.MaskValuesChooser(vocab_size=200, mask_token=103,
    ...                                    mask_token_rate=1.0, random_token_rate=0.0)
    >>> masked, positions, labels = tf_mlm.mask_language_model(ids, selector, chooser)
    >>> masked
    <tf.RaggedTensor [[101, 103, 103, 103, 102], [101, 103, 102]]>
    >>> positions
    <tf.RaggedTensor [[1, 2, 3], [1]]>
    >>> labels
    <tf.RaggedTensor [[7, 8, 9], [5]]>

    Args:
      input_ids: int32/int64 ids, rank >= 2: a RaggedTensor, a dense Tensor
        or NumPy array, or nested Python lists.
      item_selector: an [ItemSelector][tf_mlm.ItemSelector].
      mask_values_chooser: a [MaskValuesChooser][tf_mlm.MaskValuesChooser].
      axis: the dimension whose elements are masked as a whole
        (1 <= axis <= ragged rank); dimensions 1..axis are merged.
      seed: (tf_mlm extension) ``None`` for fresh randomness that honours
        ``tf.random.set_seed`` (tensorflow_text's behaviour); a Python int as
        op seed; or a shape-[2] int tensor for stateless masking, identical
        for identical inputs and seeds.
      keep_structure: (tf_mlm extension) ``False`` (default, as
        tensorflow_text): ``masked_input_ids`` is ``[batch, (tokens)]``, the
        input's dimensions ``1..`` merged. ``True``: it keeps the input's
        nesting (``[batch, (words), (wordpieces)]`` in, the same out).

    Returns:
      tuple: ``(masked_input_ids, masked_positions, masked_ids)``: the ids with
      the selected tokens replaced, ``[batch, (tokens)]`` (dtype and row-splits
      dtype of ``input_ids``; dense in, dense ``[batch, tokens]`` out; see
      ``keep_structure``); ``[batch, (num_masked)]`` ascending positions in
      each row's tokens (dtype of the row splits); and ``[batch,
      (num_masked)]`` original ids at those positions.

    >>> words = tf.ragged.constant([[[101], [7, 8], [102]], [[101], [5], [102]]])
    >>> masked, _, _ = tf_mlm.mask_language_model(words, selector, chooser)
    >>> masked
    <tf.RaggedTensor [[101, 103, 103, 102], [101, 103, 102]]>
    >>> tf_mlm.mask_language_model(words, selector, chooser, keep_structure=True)[0]
    <tf.RaggedTensor [[[101], [103, 103], [102]], [[101], [103], [102]]]>
    """
    if not isinstance(item_selector, ItemSelector):
        raise ValueError(
            "`item_selector` must be an instance of `ItemSelector`, got "
            f"{type(item_selector).__name__}"
        )
    if not isinstance(mask_values_chooser, MaskValuesChooser):
        raise ValueError(
            "`mask_values_chooser` must be an instance of `MaskValuesChooser`, "
            f"got {type(mask_values_chooser).__name__}"
        )
    rt, restore = _ragged.to_ragged(input_ids)
    axis = _ragged.check_axis(rt, axis)
    seed_tensor = _seed.tf_seed(seed)
    ops = _library.ops()
    fused = _fused_kernel(item_selector, mask_values_chooser)
    if fused is not None:
        new_values, positions, position_splits, masked_ids = _fused.mask_with(
            fused,
            item_selector,
            mask_values_chooser,
            rt.flat_values,
            rt.nested_row_splits,
            _fused.unselectable_ids(item_selector, rt.dtype),
            seed_tensor,
            axis=axis,
        )
    else:
        with _seed.stateless_scope(seed_tensor if seed is not None else None):
            mask = item_selector.get_selection_mask(rt, axis)
            level = (
                mask.ragged_rank
                if isinstance(mask, tf.RaggedTensor) and mask.ragged_rank > 1
                else axis
            )
            positions, position_splits, masked_ids = ops.tfmlm_gather_masked(
                rt.flat_values,
                rt.nested_row_splits,
                _ragged.flat_mask(mask),
                mask_level=level,
            )
            ids_rt = tf.RaggedTensor.from_row_splits(masked_ids, position_splits, validate=False)
            new_ids = mask_values_chooser.get_mask_values(ids_rt)
            new_ids = new_ids.flat_values if isinstance(new_ids, tf.RaggedTensor) else new_ids
            new_values = ops.tfmlm_scatter_masked(
                rt.flat_values,
                rt.nested_row_splits,
                positions,
                position_splits,
                tf.cast(tf.reshape(new_ids, [-1]), rt.dtype),
            )
    masked_input_ids = restore(rt.with_flat_values(new_values), merge=not keep_structure)
    masked_positions = tf.RaggedTensor.from_row_splits(positions, position_splits, validate=False)
    masked_ids = masked_positions.with_values(masked_ids)  # shares the row partition
    return masked_input_ids, masked_positions, masked_ids
