"""The full tensorflow_text masking API: selectors, hooks, ranks and axes.

Deterministic behaviour is compared element for element with
tensorflow_text 2.21 on generated ragged inputs (hypothesis); for the axes
tensorflow_text cannot handle (it fails for axis > 1), against a plain
Python statement of the merge semantics of docs/semantics.md ("Items").
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tf_mlm
from tf_mlm.text.masking import _fused_kernel

text = pytest.importorskip("tensorflow_text")
from tensorflow_text.python.ops import item_selector_ops as text_selectors  # noqa: E402

HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def nested(depth):
    """Nested lists of ids: depth 1 = a list of ids."""
    leaf = st.integers(0, 9)
    strategy = st.lists(leaf, max_size=5)
    for _ in range(depth - 1):
        strategy = st.lists(strategy, max_size=4)
    return strategy


@st.composite
def ragged_batches(draw, ranks=(2, 3, 4)):
    rank = draw(st.sampled_from(ranks))
    rows = draw(st.lists(nested(rank - 1), min_size=1, max_size=5))
    dtype = draw(st.sampled_from([tf.int32, tf.int64]))
    return tf.ragged.constant(rows, dtype, ragged_rank=rank - 1), rank


def flatten(x):
    return [t for e in x for t in flatten(e)] if isinstance(x, list) else [x]


def items_of(row, axis):
    """The items of one batch row at `axis` (dims 1..axis merged)."""
    items = row
    for _ in range(axis - 1):
        items = [child for item in items for child in item]
    return [flatten(item) for item in items]


def reference(rt, axis, pick):
    """(positions, ids) per row when `pick(selectable_flags)` chooses items."""
    positions, ids = [], []
    for row in rt.to_list():
        items = items_of(row, axis)
        chosen = pick([all(t not in (0, 9) for t in item) for item in items])
        start, p, l = 0, [], []
        for item, c in zip(items, chosen):
            if c:
                p += list(range(start, start + len(item)))
                l += item
            start += len(item)
        positions.append(p)
        ids.append(l)
    return positions, ids


def first_n(n, reverse=False):
    def pick(flags):
        order = range(len(flags) - 1, -1, -1) if reverse else range(len(flags))
        chosen, left = [False] * len(flags), n
        for i in order:
            if flags[i] and left:
                chosen[i], left = True, left - 1
        return chosen

    return pick


ALWAYS_MASK = (100, 99, 1.0, 0.0)


def same_ragged(a, b):
    """Equal values, ragged rank, dtypes and row-splits dtype."""
    assert a.to_list() == b.to_list()
    assert (a.ragged_rank, a.dtype, a.row_splits.dtype) == (
        b.ragged_rank,
        b.dtype,
        b.row_splits.dtype,
    )


@HYPOTHESIS
@given(ragged_batches(), st.integers(0, 4), st.booleans())
def test_first_and_last_n_equal_tensorflow_text(batch, n, last):
    rt, _ = batch
    ours_cls = tf_mlm.LastNItemSelector if last else tf_mlm.FirstNItemSelector
    theirs_cls = text.LastNItemSelector if last else text.FirstNItemSelector
    ours = tf_mlm.mask_language_model(
        rt, ours_cls(n, [0, 9]), tf_mlm.MaskValuesChooser(*ALWAYS_MASK)
    )
    theirs = text.mask_language_model(
        rt, theirs_cls(n, [0, 9]), text.MaskValuesChooser(*ALWAYS_MASK)
    )
    for a, b in zip(ours, theirs):
        same_ragged(a, b)
    ref = reference(rt, 1, first_n(n, last))
    assert ours[1].to_list() == ref[0] and ours[2].to_list() == ref[1]
    sel = ours_cls(n, [0, 9]).get_selection_mask(rt, 1)
    assert sel.to_list() == theirs_cls(n, [0, 9]).get_selection_mask(rt, 1).to_list()


@HYPOTHESIS
@given(ragged_batches(), st.data())
def test_every_axis_follows_the_merge_semantics(batch, data):
    rt, rank = batch
    axis = data.draw(st.integers(1, rank - 1))
    n = data.draw(st.integers(0, 3))
    masked, positions, ids = tf_mlm.mask_language_model(
        rt, tf_mlm.FirstNItemSelector(n, [0, 9]), tf_mlm.MaskValuesChooser(*ALWAYS_MASK), axis=axis
    )
    ref_pos, ref_ids = reference(rt, axis, first_n(n))
    assert positions.to_list() == ref_pos and ids.to_list() == ref_ids
    flat_in = [flatten(r) for r in rt.to_list()]
    flat_out = [flatten(r) for r in masked.to_list()]
    for row_in, row_out, p in zip(flat_in, flat_out, ref_pos):
        assert row_out == [99 if i in p else t for i, t in enumerate(row_in)]
    # a random selector with rate 1 picks exactly the selectable items
    _, positions, _ = tf_mlm.mask_language_model(
        rt,
        tf_mlm.RandomItemSelector(1000, 1.0, [0, 9]),
        tf_mlm.MaskValuesChooser(*ALWAYS_MASK),
        axis=axis,
        seed=[1, 2],
    )
    assert positions.to_list() == reference(rt, axis, lambda f: f)[0]


@HYPOTHESIS
@given(ragged_batches())
def test_base_and_nothing_selectors_equal_tensorflow_text(batch):
    rt, _ = batch
    for ours, theirs in (
        (tf_mlm.ItemSelector([0, 9]), text_selectors.ItemSelector([0, 9])),
        (tf_mlm.NothingSelector(), text_selectors.NothingSelector()),
    ):
        a = tf_mlm.mask_language_model(rt, ours, tf_mlm.MaskValuesChooser(*ALWAYS_MASK))
        b = text.mask_language_model(rt, theirs, text.MaskValuesChooser(*ALWAYS_MASK))
        for x, y in zip(a, b):
            same_ragged(x, y)
        assert (
            ours.get_selection_mask(rt, 1).to_list() == theirs.get_selection_mask(rt, 1).to_list()
        )


@pytest.mark.parametrize("shuffle", ["identity", "reverse"])
@pytest.mark.parametrize("rank", [2, 3])
def test_shuffle_fn_equals_tensorflow_text(shuffle, rank):
    fn = (lambda x: x) if shuffle == "identity" else (lambda x: tf.reverse(x, [0]))
    rows = (
        [[1, 5, 6, 7, 2], [1, 8, 9, 2], [3]]
        if rank == 2
        else [[[1], [5, 6], [7], [2]], [[1], [8], [9, 4], [2]]]
    )
    rt = tf.ragged.constant(rows, tf.int64)
    a = tf_mlm.mask_language_model(
        rt, tf_mlm.RandomItemSelector(2, 0.5, [1, 2], fn), tf_mlm.MaskValuesChooser(*ALWAYS_MASK)
    )
    b = text.mask_language_model(
        rt, text.RandomItemSelector(2, 0.5, [1, 2], fn), text.MaskValuesChooser(*ALWAYS_MASK)
    )
    for x, y in zip(a, b):
        same_ragged(x, y)


class AlwaysRandom(tf_mlm.MaskValuesChooser):
    def get_mask_values(self, masked_lm_ids):
        return tf.ragged.map_flat_values(lambda x: tf.ones_like(x) * 42, masked_lm_ids)


class SelectOdd(tf_mlm.ItemSelector):
    """Overrides get_selectable: only odd ids may be selected."""

    def get_selectable(self, input_ids, axis):
        return tf.ragged.map_flat_values(lambda x: x % 2 == 1, input_ids)


class SelectEverySecond(tf_mlm.RandomItemSelector):
    """Overrides get_selection_mask entirely."""

    def get_selection_mask(self, input_ids, axis):
        pos = tf.ragged.range(input_ids.row_lengths())
        return tf.equal(pos % 2, 1)


def test_subclass_hooks_are_honoured():
    rt = tf.ragged.constant([[1, 2, 3, 4, 5], [6, 7]], tf.int64)
    chooser = tf_mlm.MaskValuesChooser(*ALWAYS_MASK)
    masked, positions, _ = tf_mlm.mask_language_model(rt, SelectOdd(), chooser)
    assert positions.to_list() == [[0, 2, 4], [1]]
    masked, positions, _ = tf_mlm.mask_language_model(rt, SelectEverySecond(10, 1.0), chooser)
    assert positions.to_list() == [[1, 3], [1]]
    assert masked.to_list() == [[1, 99, 3, 99, 5], [6, 99]]
    masked, _, ids = tf_mlm.mask_language_model(
        rt, tf_mlm.FirstNItemSelector(1), AlwaysRandom(100, 3)
    )
    assert masked.to_list() == [[42, 2, 3, 4, 5], [42, 7]] and ids.to_list() == [[1], [6]]

    class RandomOverOdd(tf_mlm.RandomItemSelector):
        def get_selectable(self, input_ids, axis):
            return SelectOdd.get_selectable(self, input_ids, axis)

    _, positions, _ = tf_mlm.mask_language_model(rt, RandomOverOdd(10, 1.0), chooser)
    assert positions.to_list() == [[0, 2, 4], [1]]


@pytest.mark.parametrize(
    "selector_type, kwargs",
    [
        (tf_mlm.RandomItemSelector, {}),
        (tf_mlm.SpanItemSelector, {}),
        (tf_mlm.SpanItemSelector, dict(p=0.5, max_span_length=3)),
    ],
)
def test_fused_and_composed_paths_agree_under_a_stateless_seed(selector_type, kwargs):
    # The fused kernels (item selection, spans) against the composed ops
    # they replace, which a user hook forces.
    class Composed(selector_type):
        def get_selectable(self, input_ids, axis):
            return super().get_selectable(input_ids, axis)

    class ComposedChooser(tf_mlm.MaskValuesChooser):
        def get_mask_values(self, masked_lm_ids):
            return super().get_mask_values(masked_lm_ids)

    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 40, size=64)
    pieces = rng.integers(1, 4, size=int(lengths.sum()))
    words = tf.RaggedTensor.from_nested_row_lengths(
        rng.integers(0, 50, size=int(pieces.sum())), [lengths, pieces]
    )
    for rt in (words, words.merge_dims(1, 2)):
        fused = tf_mlm.mask_language_model(
            rt,
            selector_type(5, 0.3, [0, 1], **kwargs),
            tf_mlm.MaskValuesChooser(50, 3),
            seed=[9, 9],
        )
        composed = tf_mlm.mask_language_model(
            rt, Composed(5, 0.3, [0, 1], **kwargs), ComposedChooser(50, 3), seed=[9, 9]
        )
        assert sum(len(p) for p in fused[1].to_list()) > 0
        for a, b in zip(fused, composed):
            assert a.to_list() == b.to_list()
    assert _fused_kernel(selector_type(5, 0.3), tf_mlm.MaskValuesChooser(50, 3)) is not None
    assert _fused_kernel(Composed(5, 0.3), tf_mlm.MaskValuesChooser(50, 3)) is None


def test_unselectable_ids_as_tensor_and_properties():
    sel = tf_mlm.RandomItemSelector(3, 0.5, tf.constant([0, 5]))
    assert [int(x) for x in sel.unselectable_ids] == [0, 5]
    assert sel.max_selections_per_batch == 3 and sel.selection_rate == 0.5
    assert sel.shuffle_fn is tf.random.shuffle and sel.uses_default_shuffle
    assert not tf_mlm.RandomItemSelector(3, 0.5, shuffle_fn=tf.random.shuffle).uses_default_shuffle
    rt = tf.ragged.constant([[0, 5, 5, 7]])
    _, positions, _ = tf_mlm.mask_language_model(rt, sel, tf_mlm.MaskValuesChooser(*ALWAYS_MASK))
    assert positions.to_list() == [[3]]
    with pytest.raises(ValueError, match="unselectable_ids"):
        tf_mlm.ItemSelector(tf.constant([[0, 1]]))
    with pytest.raises(ValueError, match="unselectable_ids"):
        tf_mlm.ItemSelector("abc")
    ch = tf_mlm.MaskValuesChooser(10, 4, 0.7, 0.2)
    assert (ch.vocab_size, ch.mask_token, ch.mask_token_rate, ch.random_token_rate) == (
        10,
        4,
        0.7,
        0.2,
    )


@pytest.mark.parametrize(
    "rate,cap,expect", [(0.0, 5, 0), (1.0, 5, 5), (1.0, 0, 0), (0.5, 100, 4), (0.15, 76, 2)]
)
def test_edge_rates_and_caps(rate, cap, expect):
    rt = tf.ragged.constant([[1, 2, 3, 4, 5, 6, 7, 0], [0], []])
    _, positions, _ = tf_mlm.mask_language_model(
        rt, tf_mlm.RandomItemSelector(cap, rate, [0]), tf_mlm.MaskValuesChooser(*ALWAYS_MASK)
    )
    assert positions.row_lengths().numpy().tolist() == [min(expect, 7), 0, 0]
