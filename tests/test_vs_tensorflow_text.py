"""Side by side with tensorflow_text 2.21: same laws on the same inputs.

Each sample is many copies of the same rows in one batch (every batch row
draws independently), masked once by tf_mlm and once by tensorflow_text.
"""

import numpy as np
import pytest
import tensorflow as tf

import tf_mlm
from tests import _stats

text = pytest.importorskip("tensorflow_text")

COPIES = 3000
VOCAB, MASK = 50, 3


def tile_rows(rows, copies=COPIES, dtype=tf.int64):
    return tf.ragged.constant([r for _ in range(copies) for r in rows], dtype)


def selection_histogram(positions, n_rows, length):
    """hist[r, p]: how often position p of template row r was selected."""
    hist = np.zeros((n_rows, length), np.int64)
    for i, p in enumerate(positions.to_list()):
        np.add.at(hist[i % n_rows], p, 1)
    return hist


def both(ids, rate, cap, unselectable, mask_rate=0.8, random_rate=0.1, axis=1):
    tf.random.set_seed(2024)
    ours = tf_mlm.mask_language_model(
        ids,
        tf_mlm.RandomItemSelector(cap, rate, unselectable),
        tf_mlm.MaskValuesChooser(VOCAB, MASK, mask_rate, random_rate),
        axis=axis,
    )
    theirs = text.mask_language_model(
        ids,
        text.RandomItemSelector(cap, rate, unselectable),
        text.MaskValuesChooser(VOCAB, MASK, mask_rate, random_rate),
        axis=axis,
    )
    return ours, theirs


ROWS = [[1, 10, 11, 12, 13, 14, 15, 16, 17, 2], [1, 20, 21, 2, 22, 23, 24]]


def test_per_position_selection_frequencies_match():
    ids = tile_rows(ROWS)
    (_, ours_pos, _), (_, theirs_pos, _) = both(ids, 0.3, 2, [1, 2])
    for hist in (selection_histogram(ours_pos, 2, 10), selection_histogram(theirs_pos, 2, 10)):
        # counts: row 0 has 8 selectable -> min(ceil(2.4), 2) = 2; row 1: 5 -> 2
        assert hist[0].sum() == 2 * COPIES and hist[1].sum() == 2 * COPIES
        assert hist[0, [0, 9]].sum() == 0 and hist[1, [0, 3]].sum() == 0
        assert _stats.uniform_p(hist[0, 1:9]) > _stats.P_FLOOR
        assert _stats.uniform_p(hist[1, [1, 2, 4, 5, 6]]) > _stats.P_FLOOR
    ours_h, theirs_h = selection_histogram(ours_pos, 2, 10), selection_histogram(theirs_pos, 2, 10)
    assert _stats.same_law_p(ours_h[0], theirs_h[0]) > _stats.P_FLOOR
    assert _stats.same_law_p(ours_h[1], theirs_h[1]) > _stats.P_FLOOR


def test_the_uniformity_check_rejects_a_biased_selection():
    # A sampler favouring early positions by 20% must fail the same check.
    rng = np.random.default_rng(0)
    weights = np.array([1.2, 1.2, 1.2, 1.2, 1, 1, 1, 1]) / 8.8
    hist = np.bincount(rng.choice(8, size=2 * COPIES, p=weights), minlength=8)
    assert _stats.uniform_p(hist) < _stats.P_FLOOR


def value_split(ids, masked, positions):
    """Counts of (mask token, unchanged, other) among the selected tokens."""
    flat_ids = ids.to_list()
    mask = same = other = 0
    for row, m, p in zip(flat_ids, masked.to_list(), positions.to_list()):
        for i in p:
            if m[i] == MASK:
                mask += 1
            elif m[i] == row[i]:
                same += 1
            else:
                other += 1
    return mask, same, other


def test_mask_random_keep_proportions_match():
    ids = tile_rows([[10 + i for i in range(20)]], 1000)
    (m1, p1, _), (m2, p2, _) = both(ids, 0.5, 100, [])
    for counts in (value_split(ids, m1, p1), value_split(ids, m2, p2)):
        n = sum(counts)
        assert n == 1000 * 10
        # P(mask) = .8 + .1/V, P(same) = .1 + .1/V, P(other) = .1 * (1 - 2/V)
        assert abs(_stats.binomial_z(counts[0], n, 0.8 + 0.1 / VOCAB)) < 5
        assert abs(_stats.binomial_z(counts[1], n, 0.1 + 0.1 / VOCAB)) < 5
        assert abs(_stats.binomial_z(counts[2], n, 0.1 * (1 - 2 / VOCAB))) < 5
    assert _stats.same_law_p(value_split(ids, m1, p1), value_split(ids, m2, p2)) > _stats.P_FLOOR


def test_random_ids_are_uniform_over_the_vocabulary():
    ids = tile_rows([[7] * 25], 1000)
    (m1, _, _), (m2, _, _) = both(ids, 1.0, 100, [], mask_rate=0.0, random_rate=1.0)
    ours = np.bincount(m1.flat_values.numpy(), minlength=VOCAB)
    theirs = np.bincount(m2.flat_values.numpy(), minlength=VOCAB)
    assert len(ours) == VOCAB and len(theirs) == VOCAB  # nothing outside [0, V)
    assert _stats.uniform_p(ours) > _stats.P_FLOOR
    assert _stats.uniform_p(theirs) > _stats.P_FLOOR
    assert _stats.same_law_p(ours, theirs) > _stats.P_FLOOR


def test_whole_word_selection_frequencies_match():
    words = [[[1], [10, 11], [12], [13, 14, 15], [16], [17, 18], [2]]]
    ids = tf.ragged.constant([w for _ in range(COPIES) for w in words], tf.int64)
    (_, ours_pos, _), (_, theirs_pos, _) = both(ids, 0.4, 10, [1, 2])
    starts = [0, 1, 3, 4, 7, 8, 10]  # first token of each word

    def word_hist(positions):
        hist = np.zeros(7, np.int64)
        for p in positions.to_list():
            # each selected word contributes all its pieces, count it once
            for w, s in enumerate(starts):
                if s in p:
                    hist[w] += 1
        return hist

    ours, theirs = word_hist(ours_pos), word_hist(theirs_pos)
    for hist in (ours, theirs):
        assert hist[0] == hist[6] == 0
        assert hist.sum() == 2 * COPIES  # ceil(5 * 0.4) = 2 words per row
        assert _stats.uniform_p(hist[1:6]) > _stats.P_FLOOR
    assert _stats.same_law_p(ours[1:6], theirs[1:6]) > _stats.P_FLOOR
    # and the pieces of a word travel together
    for p in ours_pos.to_list()[:200]:
        assert (4 in p) == (5 in p) == (6 in p)


def test_selection_counts_equal_tensorflow_text_row_by_row():
    rng = np.random.default_rng(5)
    lengths = rng.integers(0, 60, size=300)
    values = rng.integers(0, 8, size=int(lengths.sum()))
    ids = tf.RaggedTensor.from_row_lengths(values, lengths)
    for rate, cap in ((0.15, 76), (0.15, 3), (0.33, 1000), (1.0, 5), (0.05, 2)):
        (m1, p1, l1), (m2, p2, l2) = both(ids, rate, cap, [0, 1])
        np.testing.assert_array_equal(p1.row_lengths(), p2.row_lengths())
        assert m1.dtype == m2.dtype and p1.dtype == p2.dtype and l1.dtype == l2.dtype
