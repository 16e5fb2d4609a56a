"""Item selectors: which items of each batch row get masked.

Same classes, arguments, defaults and properties as tensorflow_text's
``ItemSelector`` family; the selection itself runs in tf_mlm's C++ kernels.
An *item* is one element at dimension ``axis`` of ``input_ids`` (a token for
``[batch, (tokens)]`` and ``axis=1``, a whole word for ``[batch, (words),
(wordpieces)]`` and ``axis=1``); dimensions ``1..axis`` are merged, so every
batch row selects among its own items.
"""

from __future__ import annotations

import tensorflow as tf

from tf_mlm._shared import seeds as _seed
from tf_mlm._tf import fused as _fused
from tf_mlm._tf import library as _library
from tf_mlm._tf import ragged as _ragged


class ItemSelector:
    """Base class: selects every item none of whose ids is unselectable.

    Subclasses implement a selection algorithm by overriding
    [get_selection_mask][tf_mlm.ItemSelector.get_selection_mask], and may
    override [get_selectable][tf_mlm.ItemSelector.get_selectable] to change
    which items are candidates;
    [tf_mlm.mask_language_model][tf_mlm.mask_language_model] calls both through
    the instance, so overrides are honoured.

    >>> selector = tf_mlm.ItemSelector(unselectable_ids=[0])
    >>> selector.get_selection_mask(tf.ragged.constant([[0, 5, 6], [7, 0]]), axis=1)
    <tf.RaggedTensor [[False, True, True], [True, False]]>
    """

    def __init__(self, unselectable_ids=None):
        """Args:
        unselectable_ids: ids never selected (e.g. [CLS], [SEP], padding),
          as a Python list or a 1-D integer Tensor. Default: none.
        """
        if unselectable_ids is None:
            unselectable_ids = []
        if isinstance(unselectable_ids, list):
            self._unselectable_ids = unselectable_ids
            self._unselectable_source = unselectable_ids
        elif isinstance(unselectable_ids, tf.Tensor):
            if unselectable_ids.shape.rank not in (1, None):
                raise ValueError(
                    "`unselectable_ids` must be a list or a 1-D Tensor, got a "
                    f"Tensor of rank {unselectable_ids.shape.rank}"
                )
            self._unselectable_source = unselectable_ids
            # tensorflow_text exposes a Tensor argument as a list of scalars.
            self._unselectable_ids = (
                tf.unstack(unselectable_ids)
                if unselectable_ids.shape.rank == 1 and unselectable_ids.shape[0] is not None
                else unselectable_ids
            )
        else:
            raise ValueError(
                f"`unselectable_ids` must be a list or a 1-D Tensor, got {unselectable_ids!r}"
            )

    @property
    def unselectable_ids(self):
        return self._unselectable_ids

    def _item_flags(self, rt: tf.RaggedTensor, axis: int) -> tf.Tensor:
        """One bool per item at `axis` (flat): True when none of its tokens is
        unselectable. Tokens of any dtype: the kernel compares int32/int64
        ids itself; for other dtypes (strings, small ints, floats) the
        comparison is made here and the kernel reads 0/1 flags instead."""
        values, unselectable = rt.flat_values, _fused.unselectable_ids(self, rt.dtype)
        if rt.dtype not in _ragged.ID_DTYPES:
            hit = tf.reduce_any(tf.equal(tf.expand_dims(values, 1), unselectable), axis=1)
            values, unselectable = tf.cast(hit, tf.int32), tf.ones([1], tf.int32)
        return _library.ops().tfmlm_selectable(
            values, rt.nested_row_splits, unselectable, axis=axis
        )

    def get_selectable(self, input_ids, axis):
        """Which items may be selected.

        Returns a bool RaggedTensor shaped like ``input_ids.shape[:axis + 1]``
        (the input's nesting kept): True for the items none of whose tokens
        is in ``unselectable_ids``. Tokens may be of any dtype (ids or
        strings).

        >>> ids = tf.ragged.constant([[[101], [7, 8]], [[9], [102]]])
        >>> tf_mlm.ItemSelector([101, 102]).get_selectable(ids, axis=1)
        <tf.RaggedTensor [[False, True], [True, False]]>
        >>> tokens = tf.ragged.constant([[b"[CLS]", b"a", b"b"], [b"[CLS]", b"c"]])
        >>> tf_mlm.ItemSelector([b"[CLS]"]).get_selectable(tokens, axis=1)
        <tf.RaggedTensor [[False, True, True], [False, True]]>
        """
        rt, _ = _ragged.to_ragged(input_ids, ids_only=False)
        axis = _ragged.check_axis(rt, axis)
        return _ragged.items_ragged(rt, axis, self._item_flags(rt, axis))

    def get_selection_mask(self, input_ids, axis=1):
        """Which items are selected: a bool RaggedTensor shaped like
        ``input_ids.shape[:axis + 1]``. The base class selects every
        selectable item."""
        return self.get_selectable(input_ids, axis)


class RateCapSelector(ItemSelector):
    """Shared by the selectors that spend a per-row budget of
    ``min(ceil(selectable * selection_rate), max_selections_per_batch)``."""

    def __init__(self, max_selections_per_batch, selection_rate, unselectable_ids=None):
        if selection_rate is None:
            raise ValueError("`selection_rate` cannot be None")
        self._max_selections_per_batch = max_selections_per_batch
        self._selection_rate = selection_rate
        super().__init__(unselectable_ids)

    @property
    def max_selections_per_batch(self):
        return self._max_selections_per_batch

    @property
    def selection_rate(self):
        return self._selection_rate


class RandomItemSelector(RateCapSelector):
    """Selects ``min(ceil(selectable * selection_rate), max_selections_per_batch)``
    items of each row (the cap applies per row, despite its name), uniformly
    at random among its selectable items.

    >>> tf.random.set_seed(7)
    >>> selector = tf_mlm.RandomItemSelector(
    ...     max_selections_per_batch=2, selection_rate=0.5, unselectable_ids=[0])
    >>> mask = selector.get_selection_mask(tf.ragged.constant([[0, 4, 5, 6, 0], [7, 8]]), axis=1)
    >>> tf.reduce_sum(tf.cast(mask, tf.int32), axis=1).numpy().tolist()
    [2, 1]
    """

    def __init__(
        self,
        max_selections_per_batch,
        selection_rate,
        unselectable_ids=None,
        shuffle_fn=None,
        *,
        selection_mode="exact",
    ):
        """Args:
        max_selections_per_batch: cap on the number of items selected per row.
        selection_rate: fraction of each row's selectable items to select.
        unselectable_ids: ids never selected; a list or a 1-D Tensor.
        shuffle_fn: optional function shuffling a 1-D Tensor, replacing the
          built-in uniform shuffle (e.g. an identity shuffle selects the
          first items). Default: uniform, drawn in the C++ kernel.
        selection_mode: (tf_mlm extension) ``"exact"`` (default,
          tensorflow_text's law: exactly the count above) or
          ``"bernoulli"`` (HuggingFace's law: each selectable item
          independently with probability ``selection_rate``; when more than
          the cap are drawn, a uniform subset of cap of them is kept).
        """
        if selection_mode not in ("exact", "bernoulli"):
            raise ValueError(
                f"`selection_mode` must be 'exact' or 'bernoulli', got {selection_mode!r}"
            )
        if selection_mode == "bernoulli" and shuffle_fn is not None:
            raise ValueError("`shuffle_fn` applies to selection_mode='exact' only")
        self._selection_mode = selection_mode
        self._default_shuffle = shuffle_fn is None
        self._shuffle_fn = tf.random.shuffle if shuffle_fn is None else shuffle_fn
        super().__init__(max_selections_per_batch, selection_rate, unselectable_ids)

    @property
    def shuffle_fn(self):
        return self._shuffle_fn

    @property
    def uses_default_shuffle(self):
        """(tf_mlm extension) True when no ``shuffle_fn`` was given: the
        selection is then drawn inside tf_mlm's fused kernel."""
        return self._default_shuffle

    @property
    def selection_mode(self):
        return self._selection_mode

    def get_selection_mask(self, input_ids, axis):
        rt, _ = _ragged.to_ragged(input_ids, ids_only=False)
        axis = _ragged.check_axis(rt, axis)
        selectable = _ragged.flat_mask(self.get_selectable(rt, axis))
        splits = _ragged.item_row_splits(rt, axis)
        cap, rate = _fused.cap_and_rate(self)
        if self._default_shuffle:
            chosen = _library.ops().tfmlm_select_items(
                selectable,
                splits,
                cap,
                rate,
                _seed.tf_seed(None),
                selection_mode=self._selection_mode,
            )
        else:
            chosen = self._select_with_shuffle_fn(
                selectable, splits, cap, rate, items_are_tokens=axis == rt.ragged_rank
            )
        return _ragged.items_ragged(rt, axis, _ragged.with_empty_items_true(rt, axis, chosen))

    def _select_with_shuffle_fn(self, selectable, splits, cap, rate, items_are_tokens):
        """The user's shuffle_fn decides the order, row by row (as in
        tensorflow_text: it receives the flat positions of the selectable
        tokens, or the indices 0..n-1 of a row's selectable words)."""
        num_items = tf.shape(selectable, out_type=splits.dtype)[0]
        candidates = tf.ragged.boolean_mask(
            tf.RaggedTensor.from_row_splits(tf.range(num_items), splits, validate=False),
            tf.RaggedTensor.from_row_splits(selectable, splits, validate=False),
        )
        count = tf.math.ceil(tf.cast(candidates.row_lengths(), tf.float32) * rate)
        count = tf.cast(tf.minimum(count, tf.cast(cap, tf.float32)), splits.dtype)

        def pick(args):
            row, n = args
            if items_are_tokens:
                return self._shuffle_fn(row)[:n]
            order = self._shuffle_fn(tf.range(tf.size(row, out_type=splits.dtype)))[:n]
            return tf.gather(row, order)

        picked = tf.map_fn(
            pick,
            (candidates, count),
            fn_output_signature=tf.RaggedTensorSpec([None], splits.dtype, 0),
        )
        return tf.tensor_scatter_nd_update(
            tf.zeros_like(selectable),
            tf.expand_dims(picked.flat_values, -1),
            tf.ones_like(picked.flat_values, dtype=tf.bool),
        )


class _FirstOrLastNSelector(ItemSelector):
    _reverse = False

    def __init__(self, num_to_select, unselectable_ids=None):
        super().__init__(unselectable_ids)
        self._num_to_select = num_to_select

    def get_selectable(self, input_ids, axis):
        rt, _ = _ragged.to_ragged(input_ids, ids_only=False)
        axis = _ragged.check_axis(rt, axis)
        # As in tensorflow_text: `num_to_select` is one count for every row,
        # or one per row (any shape holding `batch` counts).
        counts = tf.reshape(tf.cast(self._num_to_select, tf.int64), [-1])
        chosen = _library.ops().tfmlm_select_first_n(
            self._item_flags(rt, axis),
            _ragged.item_row_splits(rt, axis),
            counts,
            reverse=self._reverse,
        )
        return _ragged.items_ragged(rt, axis, _ragged.with_empty_items_true(rt, axis, chosen))


class FirstNItemSelector(_FirstOrLastNSelector):
    """Selects the first ``num_to_select`` selectable items of each row.

    >>> tf_mlm.FirstNItemSelector(2).get_selection_mask(
    ...     tf.ragged.constant([[1, 2, 3], [5, 6, 7, 8]]), axis=1)
    <tf.RaggedTensor [[True, True, False], [True, True, False, False]]>
    """


class LastNItemSelector(_FirstOrLastNSelector):
    """Selects the last ``num_to_select`` selectable items of each row.

    >>> tf_mlm.LastNItemSelector(2).get_selection_mask(
    ...     tf.ragged.constant([[1, 2, 3, 4], [5, 6, 7]]), axis=1)
    <tf.RaggedTensor [[False, False, True, True], [False, True, True]]>
    """

    _reverse = True


class NothingSelector(ItemSelector):
    """Selects nothing.

    >>> tf_mlm.NothingSelector().get_selection_mask(tf.ragged.constant([[1, 2], [3]]), axis=1)
    <tf.RaggedTensor [[False, False], [False]]>
    """

    def __init__(self):
        super().__init__([])

    def get_selectable(self, input_ids, axis):
        rt, _ = _ragged.to_ragged(input_ids, ids_only=False)
        axis = _ragged.check_axis(rt, axis)
        num_items = tf.shape(
            rt.nested_row_splits[axis] if axis < rt.ragged_rank else rt.flat_values
        )[0]
        if axis < rt.ragged_rank:
            num_items -= 1
        return _ragged.items_ragged(
            rt, axis, _ragged.with_empty_items_true(rt, axis, tf.zeros([num_items], tf.bool))
        )
