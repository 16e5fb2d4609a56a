"""SpanItemSelector: SpanBERT's span masking as an ItemSelector."""

from __future__ import annotations

import tensorflow as tf

from tf_mlm._shared import seeds as _seed
from tf_mlm._tf import fused as _fused
from tf_mlm._tf import library as _library
from tf_mlm._tf import ragged as _ragged
from tf_mlm.options import MAX_SPAN_LENGTH, SPAN_P
from tf_mlm.text.item_selector import RateCapSelector


class SpanItemSelector(RateCapSelector):
    """Selects spans of consecutive items (Joshi et al., "SpanBERT", 2020).

    Per row, a budget of ``min(ceil(selectable_tokens * selection_rate),
    max_selections_per_batch)`` *tokens* is spent on spans: each span draws
    a length from a geometric law with parameter ``p`` clipped to
    ``[1, max_span_length]`` (SpanBERT: p=0.2, max 10) and a random
    selectable anchor, and extends right over that many items, stopping at
    an unselectable or already selected item, the row's end, or the budget.
    Items are tokens for ``[batch, (tokens)]``; with ``[batch, (words),
    (wordpieces)]`` and ``axis=1`` spans are made of whole words and a word
    is never split (a word that no longer fits in the budget ends the span).

    >>> ids = tf.ragged.constant([[101] + list(range(1000, 1040)) + [102]])
    >>> selector = tf_mlm.SpanItemSelector(100, 0.25, unselectable_ids=[101, 102])
    >>> chooser = tf_mlm.MaskValuesChooser(30522, 103, 1.0, 0.0)
    >>> _, positions, _ = tf_mlm.mask_language_model(ids, selector, chooser, seed=[1, 2])
    >>> len(positions[0])  # ceil(40 * 0.25) tokens
    10
    """

    def __init__(
        self,
        max_selections_per_batch,
        selection_rate,
        unselectable_ids=None,
        p=SPAN_P,
        max_span_length=MAX_SPAN_LENGTH,
    ):
        if isinstance(p, (int, float)) and not 0 < p <= 1:
            raise ValueError(f"`p` must be in (0, 1], got {p}")
        if isinstance(max_span_length, int) and max_span_length < 1:
            raise ValueError(f"`max_span_length` must be >= 1, got {max_span_length}")
        super().__init__(max_selections_per_batch, selection_rate, unselectable_ids)
        self._p = p
        self._max_span_length = max_span_length

    @property
    def p(self):
        return self._p

    @property
    def max_span_length(self):
        return self._max_span_length

    def get_selection_mask(self, input_ids, axis):
        rt, _ = _ragged.to_ragged(input_ids)
        axis = _ragged.check_axis(rt, axis)
        selectable = _ragged.flat_mask(self.get_selectable(rt, axis))
        splits = _ragged.item_row_splits(rt, axis)
        if axis == rt.ragged_rank:
            token_counts = tf.zeros([0], tf.int64)  # one token per item
        else:
            bounds = _ragged.item_token_bounds(rt, axis)
            token_counts = tf.cast(bounds[1:] - bounds[:-1], tf.int64)
        cap, rate = _fused.cap_and_rate(self)
        chosen = _library.ops().tfmlm_select_spans(
            selectable,
            splits,
            token_counts,
            cap,
            rate,
            tf.cast(self._p, tf.float32),
            tf.cast(self._max_span_length, tf.int64),
            _seed.tf_seed(None),
        )
        return _ragged.items_ragged(rt, axis, chosen)
