"""Masking strategies beyond tensorflow_text: word grouping, spans,
replacement exclusions and frequency-weighted replacement (TF path)."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import tf_mlm
from tests import _stats
from tf_mlm._tf import fused as _fused

CONTINUES = np.array([False, False, True, True, False, True])  # ids 2, 3, 5 continue a word


def reference_words(rows, table):
    out = []
    for row in rows:
        words = []
        for i, t in enumerate(row):
            if i == 0 or not (0 <= t < len(table) and table[t]):
                words.append([t])
            else:
                words[-1].append(t)
        out.append(words)
    return out


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(-2, 8), max_size=12), min_size=1, max_size=6),
    st.sampled_from([tf.int32, tf.int64]),
    st.sampled_from([tf.int32, tf.int64]),
)
def test_group_words_matches_the_reference(rows, dtype, splits_dtype):
    rt = tf.RaggedTensor.from_row_lengths(
        tf.constant([t for r in rows for t in r], dtype),
        tf.constant([len(r) for r in rows], splits_dtype),
    )
    words = tf_mlm.group_words(rt, CONTINUES)
    assert words.to_list() == reference_words(rows, CONTINUES)
    assert words.dtype == dtype and words.row_splits.dtype == splits_dtype


def test_grouped_words_mask_like_the_equivalent_rank3_input():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 40, size=64)
    rt = tf.RaggedTensor.from_row_lengths(rng.integers(0, 6, size=int(lengths.sum())), lengths)
    by_hand = tf.ragged.constant(reference_words(rt.to_list(), CONTINUES), tf.int64)
    grouped = tf_mlm.group_words(rt, CONTINUES)
    sel = tf_mlm.RandomItemSelector(6, 0.3, [0])
    chooser = tf_mlm.MaskValuesChooser(6, 1)
    a = tf_mlm.mask_language_model(grouped, sel, chooser, seed=[4, 2])
    b = tf_mlm.mask_language_model(by_hand, sel, chooser, seed=[4, 2])
    for x, y in zip(a, b):
        assert x.to_list() == y.to_list()


def test_continuation_tables():
    vocab = ["[PAD]", "[CLS]", "play", "##ing", "\u2581the", "<s>", "ing"]
    assert tf_mlm.wordpiece_continuation_table(vocab).tolist() == [
        False,
        False,
        False,
        True,
        False,
        False,
        False,
    ]
    assert tf_mlm.sentencepiece_continuation_table(vocab, special=["[PAD]", "[CLS]"]).tolist() == [
        False,
        False,
        True,
        True,
        False,
        False,
        True,
    ]


def test_group_words_rejects_bad_input():
    with pytest.raises(ValueError, match="ragged rank 1"):
        tf_mlm.group_words(tf.ragged.constant([[[1]]]), CONTINUES)
    with pytest.raises(ValueError, match="continuation_table"):
        tf_mlm.group_words(tf.ragged.constant([[1]]), [[True]])


ALWAYS_MASK = tf_mlm.MaskValuesChooser(30522, 103, 1.0, 0.0)


def runs(positions):
    """Lengths of maximal runs of consecutive positions."""
    out, start = [], None
    for i, p in enumerate(positions):
        if start is None or p != positions[i - 1] + 1:
            if start is not None:
                out.append(i - start)
            start = i
    if start is not None:
        out.append(len(positions) - start)
    return out


def test_span_budget_is_met_and_unselectable_tokens_are_never_masked():
    rng = np.random.default_rng(1)
    rows = []
    for n in rng.integers(20, 200, size=200):
        row = rng.integers(1000, 2000, size=n)
        row[rng.random(n) < 0.05] = 0  # scattered unselectable tokens
        rows.append([101] + row.tolist() + [102])
    rt = tf.ragged.constant(rows, tf.int64)
    sel = tf_mlm.SpanItemSelector(1000, 0.15, [0, 101, 102])
    _, positions, ids = tf_mlm.mask_language_model(rt, sel, ALWAYS_MASK, seed=[5, 5])
    lengths = []
    for row, p, i in zip(rows, positions.to_list(), ids.to_list()):
        selectable = sum(t not in (0, 101, 102) for t in row)
        assert len(p) == int(np.ceil(np.float32(selectable) * np.float32(0.15)))
        assert all(row[j] not in (0, 101, 102) for j in p)
        assert i == [row[j] for j in p]
        lengths += runs(p)
    assert max(lengths) > 1  # spans, not single tokens
    assert np.mean(lengths) > 2.0


def test_span_lengths_follow_the_clipped_geometric_law():
    # The full law is checked on the sampler (tests/cc/strategies_test.cc);
    # here, end to end: with a budget of max_len tokens in long rows, a row is
    # one single run of max_len exactly when its first span drew max_len
    # (adjacent shorter spans merging is rare in 600 tokens).
    p, max_len = 0.3, 6
    rows = [[1000 + j for j in range(600)]] * 3000
    rt = tf.ragged.constant(rows, tf.int64)
    sel = tf_mlm.SpanItemSelector(max_len, 1.0, p=p, max_span_length=max_len)
    _, positions, _ = tf_mlm.mask_language_model(rt, sel, ALWAYS_MASK, seed=[8, 1])
    # Every row spends exactly the budget.
    assert all(len(p) == max_len for p in positions.to_list())
    # Rows made of one single run of max_len: probability P(L = max) plus
    # chance of adjacent spans merging (rare in 600 tokens).
    single = sum(1 for p in positions.to_list() if runs(p) == [max_len])
    law = np.array([p * (1 - p) ** (l - 1) for l in range(1, max_len + 1)])
    law /= law.sum()
    assert abs(_stats.binomial_z(single, len(rows), law[-1])) < 6


def test_whole_word_spans_never_split_a_word():
    words = tf.ragged.constant(
        [[[1000 + 10 * w + k for k in range(1 + w % 3)] for w in range(50)]] * 100, tf.int64
    )
    sel = tf_mlm.SpanItemSelector(1000, 0.2)
    _, positions, _ = tf_mlm.mask_language_model(words, sel, ALWAYS_MASK, axis=1, seed=[2, 2])
    starts = np.cumsum([0] + [1 + w % 3 for w in range(50)])
    total = int(starts[-1])
    budget = int(np.ceil(np.float32(total) * np.float32(0.2)))
    for p in positions.to_list():
        chosen = set(p)
        for w in range(50):
            inside = [t in chosen for t in range(starts[w], starts[w + 1])]
            assert all(inside) or not any(inside)
        assert budget - 3 < len(p) <= budget


def test_excluded_ids_are_never_drawn():
    ids = tf.ragged.constant([[7] * 3000], tf.int64)
    chooser = tf_mlm.MaskValuesChooser(10, 3, 0.0, 1.0, excluded_ids=[0, 3, 5, 42])
    masked, _, _ = tf_mlm.mask_language_model(
        ids, tf_mlm.RandomItemSelector(10000, 1.0), chooser, seed=[1, 1]
    )
    counts = np.bincount(masked.flat_values.numpy(), minlength=10)
    assert counts[[0, 3, 5]].sum() == 0
    assert _stats.uniform_p(counts[[1, 2, 4, 6, 7, 8, 9]]) > _stats.P_FLOOR
    assert [int(x) for x in _fused.replacement_inputs(chooser)["excluded_ids"]] == [0, 3, 5]


def test_frequency_weighted_replacement_follows_the_table():
    weights = np.array([5, 0, 1, 3, 0.5, 0, 2, 8], np.float32)
    ids = tf.ragged.constant([[7] * 20000], tf.int64)
    chooser = tf_mlm.MaskValuesChooser(
        8, 3, 0.0, 1.0, replacement_frequencies=weights, excluded_ids=[6]
    )
    masked, _, _ = tf_mlm.mask_language_model(
        ids, tf_mlm.RandomItemSelector(10**6, 1.0), chooser, seed=[3, 9]
    )
    counts = np.bincount(masked.flat_values.numpy(), minlength=8)
    expected = weights.copy()
    expected[6] = 0
    assert counts[[1, 5, 6]].sum() == 0
    nz = expected > 0
    assert _stats.law_p(counts[nz], expected[nz]) > _stats.P_FLOOR
    # and a uniform law over the same support fails the same check
    assert _stats.law_p(counts[nz], np.ones(nz.sum())) < _stats.P_FLOOR


def test_strategy_argument_errors():
    with pytest.raises(ValueError, match="p"):
        tf_mlm.SpanItemSelector(10, 0.1, p=0.0)
    with pytest.raises(ValueError, match="max_span_length"):
        tf_mlm.SpanItemSelector(10, 0.1, max_span_length=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="frequency table"):
        tf_mlm.MaskValuesChooser(4, 1, replacement_frequencies=[0, 0, 0, 0])
    chooser = tf_mlm.MaskValuesChooser(3, 1, 0.0, 1.0, replacement_frequencies=[1, 1])
    with pytest.raises(tf.errors.InvalidArgumentError, match="vocab_size"):
        tf_mlm.mask_language_model(
            tf.ragged.constant([[5]]), tf_mlm.RandomItemSelector(3, 1.0), chooser
        )
    chooser = tf_mlm.MaskValuesChooser(2, 1, 0.0, 1.0, excluded_ids=[0, 1])
    with pytest.raises(tf.errors.InvalidArgumentError, match="no id"):
        tf_mlm.mask_language_model(
            tf.ragged.constant([[5]]), tf_mlm.RandomItemSelector(3, 1.0), chooser
        )
