"""tf_mlm.numpy: semantics, equality with the TF ops, Bernoulli law, errors."""

import math

import numpy as np
import pytest
from scipy import stats

from tf_mlm import _core
from tf_mlm import numpy as mlm

P_FLOOR = 1e-6  # fixed seeds; a correct law passes for essentially any seed
UNSELECTABLE = (0, 101, 102)
OPTS = dict(vocab_size=500, mask_token=103, unselectable_ids=UNSELECTABLE)


# ---------------------------------------------------------------------------
# Random ragged batches


def token_batch(rng, rows=40, max_len=60, ids=np.int64, splits=np.int64):
    """[rows, (tokens)]: (values, [row_splits]), ids in [0, 300) with many
    unselectable ones."""
    lengths = rng.integers(0, max_len + 1, size=rows)
    values = rng.integers(0, 300, size=int(lengths.sum())).astype(ids)
    values[rng.random(values.shape[0]) < 0.1] = 101
    row_splits = np.concatenate([[0], np.cumsum(lengths)]).astype(splits)
    return values, [row_splits]


def word_batch(rng, rows=30, max_words=25, max_pieces=4, ids=np.int64, splits=np.int64):
    """[rows, (words), (wordpieces)]: (values, [row_splits, word_splits]);
    some words are empty, some contain an unselectable id."""
    words = rng.integers(0, max_words + 1, size=rows)
    pieces = rng.integers(0, max_pieces + 1, size=int(words.sum()))
    values = rng.integers(150, 300, size=int(pieces.sum())).astype(ids)
    values[rng.random(values.shape[0]) < 0.05] = 102
    row_splits = np.concatenate([[0], np.cumsum(words)]).astype(splits)
    word_splits = np.concatenate([[0], np.cumsum(pieces)]).astype(splits)
    return values, [row_splits, word_splits]


def item_bounds(splits, axis):
    """Per row: the token ranges [t0, t1) of its items (rows -> items at
    level `axis`, tokens below), in plain Python."""
    out = []
    for b in range(len(splits[0]) - 1):
        lo, hi = b, b + 1
        for level in range(axis):
            lo, hi = int(splits[level][lo]), int(splits[level][hi])
        items = []
        for i in range(lo, hi):
            t0, t1 = i, i + 1
            for level in range(axis, len(splits)):
                t0, t1 = int(splits[level][t0]), int(splits[level][t1])
            items.append((t0, t1))
        row_start = items[0][0] if items else None
        out.append((items, row_start))
    return out


def row_token_start(splits, b):
    t = b
    for level in splits:
        t = int(level[t])
    return t


def expected_count(num_selectable, rate, cap):
    want = np.ceil(np.float32(num_selectable) * np.float32(rate))  # float32, as TF text
    return int(min(want, cap, num_selectable))


def check_contract(
    values, splits, axis, result, rate, cap, mode="exact", unselectable=UNSELECTABLE
):
    """Every property of one result that holds whatever the random draws."""
    masked = set()
    for b, (items, _) in enumerate(item_bounds(splits, axis)):
        start = row_token_start(splits, b)
        p0, p1 = result.masked_positions_row_splits[b], result.masked_positions_row_splits[b + 1]
        positions = result.masked_positions[p0:p1]
        assert np.all(np.diff(positions) > 0), "positions ascend"
        tokens = {start + int(p) for p in positions}
        selectable = [
            (t0, t1) for t0, t1 in items if not np.isin(values[t0:t1], unselectable).any()
        ]
        chosen = [(t0, t1) for t0, t1 in items if t1 > t0 and tokens.issuperset(range(t0, t1))]
        # whole items only, and only selectable ones
        assert tokens == {t for t0, t1 in chosen for t in range(t0, t1)}
        assert all(it in selectable for it in chosen)
        nonempty_selectable = [it for it in selectable if it[1] > it[0]]
        if mode == "exact":
            # empty items may be chosen too: they count but contribute no token
            n = expected_count(len(selectable), rate, cap)
            assert len(chosen) <= n <= len(chosen) + (len(selectable) - len(nonempty_selectable))
        else:
            assert len(chosen) <= min(cap, len(nonempty_selectable))
        np.testing.assert_array_equal(result.masked_ids[p0:p1], values[start + positions])
        masked |= tokens
    untouched = np.setdiff1d(np.arange(values.shape[0]), sorted(masked))
    np.testing.assert_array_equal(result.masked_values[untouched], values[untouched])
    new = result.masked_values[sorted(masked)] if masked else np.zeros(0, values.dtype)
    assert np.all((new >= 0) & (new < OPTS["vocab_size"]))
    assert result.masked_values.dtype == values.dtype
    assert result.masked_ids.dtype == values.dtype
    assert result.masked_positions.dtype == splits[0].dtype
    assert result.masked_positions_row_splits.dtype == splits[0].dtype
    assert result.masked_weights is None


# ---------------------------------------------------------------------------
# Semantics


@pytest.mark.parametrize("ids", [np.int32, np.int64])
@pytest.mark.parametrize("splits", [np.int32, np.int64])
@pytest.mark.parametrize("rate,cap", [(0.15, 1000), (0.5, 3), (1.0, 1000), (0.0, 5), (0.3, 0)])
def test_token_contract_and_exact_counts(ids, splits, rate, cap):
    rng = np.random.default_rng(1)
    for trial in range(3):
        values, row_splits = token_batch(rng, ids=ids, splits=splits)
        r = mlm.mask_ragged(
            values, row_splits, selection_rate=rate, max_selections=cap, seed=(trial, 9), **OPTS
        )
        check_contract(values, row_splits, 1, r, rate, cap)
        counts = np.diff(r.masked_positions_row_splits)
        for b in range(len(counts)):
            row = values[row_splits[0][b] : row_splits[0][b + 1]]
            selectable = int((~np.isin(row, UNSELECTABLE)).sum())
            assert counts[b] == expected_count(selectable, rate, cap)


def test_counts_use_float32_products():
    # ceil(100 * 0.15) is 15 in float64, but float32(100) * float32(0.15) is
    # 15.000001, whose ceil 16 is tensorflow_text's count.
    values = np.arange(1000, 1100)
    r = mlm.mask_ragged(
        values, np.array([0, 100]), vocab_size=2000, mask_token=1, selection_rate=0.15, seed=3
    )
    assert len(r.masked_positions) == 16
    assert math.ceil(100 * 0.15) == 15


@pytest.mark.parametrize("ids", [np.int32, np.int64])
@pytest.mark.parametrize("splits", [np.int32, np.int64])
def test_whole_word_contract(ids, splits):
    rng = np.random.default_rng(2)
    for trial in range(3):
        values, word_splits = word_batch(rng, ids=ids, splits=splits)
        for rate, cap in ((0.2, 1000), (0.6, 2)):
            r = mlm.mask_ragged(
                values, word_splits, selection_rate=rate, max_selections=cap, seed=trial, **OPTS
            )
            check_contract(values, word_splits, 1, r, rate, cap)
            # axis=2: every wordpiece is an item of its own
            r2 = mlm.mask_ragged(
                values,
                word_splits,
                selection_rate=rate,
                max_selections=cap,
                axis=2,
                seed=trial,
                **OPTS,
            )
            check_contract(values, word_splits, 2, r2, rate, cap)


def test_whole_word_masks_every_piece_of_a_word():
    # one row, words [1 2 3] [4 5] [6]: selecting everything shows the positions
    values = np.array([11, 12, 13, 14, 15, 16])
    splits = [np.array([0, 3]), np.array([0, 3, 5, 6])]
    r = mlm.mask_ragged(
        values,
        splits,
        vocab_size=50,
        mask_token=1,
        selection_rate=0.5,
        mask_token_rate=1.0,
        random_token_rate=0.0,
        seed=11,
    )
    # ceil(3 * 0.5) = 2 words of the three
    chosen = r.masked_positions.tolist()
    assert chosen in ([0, 1, 2, 3, 4], [0, 1, 2, 5], [3, 4, 5])
    assert np.all(r.masked_values[chosen] == 1)


def test_value_choice_extremes():
    rng = np.random.default_rng(3)
    values, splits = token_batch(rng)
    common = dict(
        vocab_size=500, mask_token=103, unselectable_ids=UNSELECTABLE, selection_rate=0.5, seed=4
    )
    r = mlm.mask_ragged(values, splits, mask_token_rate=1.0, random_token_rate=0.0, **common)
    positions = np.concatenate(
        [
            row_token_start(splits, b)
            + r.masked_positions[
                r.masked_positions_row_splits[b] : r.masked_positions_row_splits[b + 1]
            ]
            for b in range(len(splits[0]) - 1)
        ]
    )
    assert positions.size > 0
    assert np.all(r.masked_values[positions] == 103)
    keep = mlm.mask_ragged(values, splits, mask_token_rate=0.0, random_token_rate=0.0, **common)
    np.testing.assert_array_equal(keep.masked_values, values)
    np.testing.assert_array_equal(keep.masked_positions, r.masked_positions)


def test_unselectable_ids_are_never_masked():
    values = np.array([5, 6, 5, 6, 7, 5])
    r = mlm.mask_ragged(
        values,
        np.array([0, 6]),
        vocab_size=10,
        mask_token=1,
        selection_rate=1.0,
        unselectable_ids=[5, 6],
        seed=0,
    )
    assert r.masked_positions.tolist() == [4]
    r = mlm.mask_ragged(
        values,
        np.array([0, 6]),
        vocab_size=10,
        mask_token=1,
        selection_rate=1.0,
        unselectable_ids=np.array([5, 6, 7], np.int32),
        seed=0,
    )
    assert r.masked_positions.tolist() == []


def test_pad_to_dense_outputs():
    rng = np.random.default_rng(5)
    values, splits = token_batch(rng, rows=30)
    ragged = mlm.mask_ragged(values, splits, selection_rate=0.3, max_selections=6, seed=8, **OPTS)
    dense = mlm.mask_ragged(
        values, splits, selection_rate=0.3, max_selections=6, seed=8, pad_to=8, **OPTS
    )
    assert dense.masked_positions_row_splits is None
    assert dense.masked_positions.shape == dense.masked_ids.shape == (30, 8)
    assert dense.masked_weights.dtype == np.float32
    np.testing.assert_array_equal(dense.masked_values, ragged.masked_values)
    for b in range(30):
        p0, p1 = ragged.masked_positions_row_splits[b : b + 2]
        n = p1 - p0
        np.testing.assert_array_equal(dense.masked_positions[b, :n], ragged.masked_positions[p0:p1])
        np.testing.assert_array_equal(dense.masked_ids[b, :n], ragged.masked_ids[p0:p1])
        assert np.all(dense.masked_weights[b, :n] == 1) and np.all(dense.masked_weights[b, n:] == 0)
        assert np.all(dense.masked_positions[b, n:] == 0) and np.all(dense.masked_ids[b, n:] == 0)
    # pad_to below the cap caps the selection: min(max_selections, pad_to)
    short = mlm.mask_ragged(values, splits, selection_rate=1.0, seed=8, pad_to=2, **OPTS)
    assert np.all(short.masked_weights.sum(axis=1) <= 2)
    assert (short.masked_values != values).sum() <= 2 * 30


def test_pad_to_caps_whole_words_at_pad_length_tokens():
    values = np.arange(10, 16)
    splits = [np.array([0, 2]), np.array([0, 3, 6])]  # two words of 3 pieces
    r = mlm.mask_ragged(
        values,
        splits,
        vocab_size=50,
        mask_token=1,
        selection_rate=1.0,
        mask_token_rate=1.0,
        random_token_rate=0.0,
        seed=0,
        pad_to=4,
    )
    # cap min(inf, 4) allows both words, but only 4 token slots are recorded and masked
    assert r.masked_weights.tolist() == [[1, 1, 1, 1]]
    assert r.masked_positions.tolist() == [[0, 1, 2, 3]]
    assert r.masked_values.tolist() == [1, 1, 1, 1, 14, 15]


def test_empty_batches():
    r = mlm.mask_ragged(np.zeros(0, np.int64), np.zeros(1, np.int64), seed=1, **OPTS)
    assert r.masked_positions.shape == (0,) and r.masked_positions_row_splits.tolist() == [0]
    r = mlm.mask_ragged(np.zeros(0, np.int32), np.array([0, 0, 0]), seed=1, pad_to=3, **OPTS)
    assert r.masked_positions.shape == (2, 3) and not r.masked_weights.any()


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(6)
    values, splits = token_batch(rng, rows=4000, max_len=200)  # big enough to shard
    args = (values, splits, np.array(UNSELECTABLE), 30, 0.2, 500, 103, 0.8, 0.1, (5, 6))
    one = _core.mask_language_model(*args, num_threads=1)
    for threads in (2, 3, 7):
        many = _core.mask_language_model(*args, num_threads=threads)
        for a, b in zip(one, many):
            if a is not None:
                np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# Seeds


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b) if x is not None)


def test_seeds():
    rng = np.random.default_rng(7)
    values, splits = token_batch(rng)
    run = lambda seed: mlm.mask_ragged(values, splits, seed=seed, **OPTS)  # noqa: E731
    assert _same(run(5), run(5))
    assert _same(run(5), run((5, 0)))
    assert _same(run(-1), run((2**64 - 1, 0)))
    assert _same(run(np.int64(5)), run([5, 0]))
    assert _same(run(np.array([5, 0])), run(5))
    assert not _same(run(5), run(6))
    assert not _same(run((5, 1)), run((5, 0)))
    assert _same(run(np.random.default_rng(3)), run(np.random.default_rng(3)))
    g = np.random.default_rng(3)
    assert not _same(run(g), run(g))  # a Generator advances
    assert not _same(run(None), run(None))
    assert mlm.resolve_seed(np.random.default_rng(0)) == tuple(
        int(x) for x in np.random.default_rng(0).integers(0, 2**64, size=2, dtype=np.uint64)
    )


# ---------------------------------------------------------------------------
# Convenience inputs


def test_ragged_from_sequences_and_mask_sequences():
    rows = [[101, 7, 8, 102], np.array([101, 9, 102]), []]
    values, splits = mlm.ragged_from_sequences(rows)
    assert values.tolist() == [101, 7, 8, 102, 101, 9, 102]
    assert [s.tolist() for s in splits] == [[0, 4, 7, 7]]
    r = mlm.mask_sequences(rows, seed=4, selection_rate=0.5, **OPTS)
    ref = mlm.mask_ragged(values, splits, seed=4, selection_rate=0.5, **OPTS)
    assert [x.tolist() for x in r.masked_values] == [
        ref.masked_values[:4].tolist(),
        ref.masked_values[4:7].tolist(),
        [],
    ]
    assert _same(r[1:], ref[1:])
    assert mlm.mask_sequences([], seed=1, **OPTS).masked_values == []


def test_ragged_from_sequences_words():
    rows = [[[101], [7, 8], []], [], [np.array([9]), [102]]]
    values, splits = mlm.ragged_from_sequences(rows)
    assert values.tolist() == [101, 7, 8, 9, 102]
    assert [s.tolist() for s in splits] == [[0, 3, 3, 5], [0, 1, 3, 3, 4, 5]]
    r = mlm.mask_sequences(rows, seed=2, selection_rate=1.0, **OPTS)
    ref = mlm.mask_ragged(values, splits, seed=2, selection_rate=1.0, **OPTS)
    # One array of tokens per row, as mask_language_model merges [batch, (words), (pieces)].
    assert ref.masked_values_row_splits.tolist() == [0, 3, 3, 5]
    assert [row.tolist() for row in r.masked_values] == [
        ref.masked_values[0:3].tolist(),
        [],
        ref.masked_values[3:5].tolist(),
    ]
    with pytest.raises(ValueError, match="sequences"):
        mlm.ragged_from_sequences([[[1], [2]], [3, 4]])


def test_mask_padded_matches_ragged():
    ids = np.array([[101, 7, 0, 8, 102, 0, 0], [101, 9, 102, 0, 0, 0, 0], [0] * 7], np.int32)
    values, splits = mlm.ragged_from_padded(ids, pad_id=0)
    assert values.tolist() == [101, 7, 0, 8, 102, 101, 9, 102] and splits.tolist() == [0, 5, 8, 8]
    r = mlm.mask_padded(ids, pad_id=0, seed=3, selection_rate=1.0, **OPTS)
    ref = mlm.mask_ragged(values, splits, seed=3, selection_rate=1.0, **OPTS)
    assert r.masked_values.shape == ids.shape and r.masked_values.dtype == np.int32
    assert r.masked_values[ids.nonzero()].tolist() != []
    np.testing.assert_array_equal(r.masked_values[:, 5:], 0)
    np.testing.assert_array_equal(r.masked_values[0, :5], ref.masked_values[:5])
    assert _same(r[1:], ref[1:])


# ---------------------------------------------------------------------------
# Same results as the TF ops for equal seeds


def _tf_mask(values, splits, axis, rate, cap, mode, seed, mask_rate=0.8, random_rate=0.1):
    import tensorflow as tf

    import tf_mlm

    rt = tf.RaggedTensor.from_nested_row_splits(values, splits, validate=True)
    selector = tf_mlm.RandomItemSelector(
        cap, rate, unselectable_ids=list(UNSELECTABLE), selection_mode=mode
    )
    chooser = tf_mlm.MaskValuesChooser(
        OPTS["vocab_size"], OPTS["mask_token"], mask_rate, random_rate
    )
    masked, positions, ids = tf_mlm.mask_language_model(
        rt, selector, chooser, axis=axis, seed=list(seed)
    )
    return (
        masked.flat_values.numpy(),
        positions.flat_values.numpy(),
        positions.row_splits.numpy(),
        ids.flat_values.numpy(),
        masked.row_splits.numpy(),
    )


@pytest.mark.parametrize("ids", [np.int32, np.int64])
@pytest.mark.parametrize("splits", [np.int32, np.int64])
@pytest.mark.parametrize("mode", ["exact", "bernoulli"])
@pytest.mark.parametrize("shape", ["tokens", "words", "wordpieces"])
def test_bit_identical_with_tf_op(ids, splits, mode, shape):
    rng = np.random.default_rng(hash((shape, mode)) % 1000)
    for trial in range(4):
        if shape == "tokens":
            values, row_splits = token_batch(rng, ids=ids, splits=splits)
            axis = 1
        else:
            values, row_splits = word_batch(rng, ids=ids, splits=splits)
            axis = 1 if shape == "words" else 2
        rate = float(rng.choice([0.15, 0.4, 1.0]))
        cap = int(rng.choice([2, 20, 1000]))
        seed = (int(rng.integers(-(2**63), 2**63)), int(rng.integers(-(2**63), 2**63)))
        expected = _tf_mask(values, row_splits, axis, rate, cap, mode, seed, 0.6, 0.3)
        got = mlm.mask_ragged(
            values,
            row_splits,
            selection_rate=rate,
            max_selections=cap,
            mask_token_rate=0.6,
            random_token_rate=0.3,
            axis=axis,
            selection_mode=mode,
            seed=seed,
            **OPTS,
        )
        # masked_input_ids is [batch, (tokens)] there: its splits are the composed ones.
        for name, a, b in zip(
            ("values", "positions", "splits", "ids", "token splits"), expected, got[:4] + got[5:]
        ):
            assert a.dtype == b.dtype, name
            np.testing.assert_array_equal(a, b, err_msg=name)
        if trial == 0 and seed[0] >= 0:
            # an int seed s is the TF seed [s, 0]
            assert _same(
                _tf_mask(values, row_splits, axis, rate, cap, mode, (seed[0], 0))[:4],
                mlm.mask_ragged(
                    values,
                    row_splits,
                    selection_rate=rate,
                    max_selections=cap,
                    axis=axis,
                    selection_mode=mode,
                    seed=seed[0],
                    **OPTS,
                )[:4],
            )


@pytest.mark.parametrize("mode", ["exact", "bernoulli"])
def test_pad_to_bit_identical_with_dense_tf_op(mode):
    import tensorflow as tf

    from tf_mlm._tf import library as _library
    from tf_mlm._tf.fused import uniform_replacement

    rng = np.random.default_rng(12)
    values, splits = word_batch(rng)
    out = _library.ops().tfmlm_mask_language_model_dense(
        values,
        splits,
        np.array(UNSELECTABLE, values.dtype),
        tf.constant(5, tf.int64),
        tf.constant(0.4, tf.float32),
        tf.constant(500, tf.int64),
        tf.constant(103, tf.int64),
        tf.constant(0.8, tf.float32),
        tf.constant(0.1, tf.float32),
        tf.constant([17, -4], tf.int64),
        **uniform_replacement(),
        output_length=6,
        axis=1,
        selection_mode=mode,
    )
    got = mlm.mask_ragged(
        values,
        splits,
        selection_rate=0.4,
        max_selections=5,
        pad_to=6,
        selection_mode=mode,
        seed=(17, -4),
        **OPTS,
    )
    for a, b in zip(
        out, (got.masked_values, got.masked_positions, got.masked_ids, got.masked_weights)
    ):
        np.testing.assert_array_equal(a.numpy(), b)


# ---------------------------------------------------------------------------
# Bernoulli selection: distribution tests, NumPy path and TF path


def _binomial_gof_p(counts, n, p, cap=None):
    """Chi-square p-value of `counts` (samples) against min(Binomial(n, p), cap)."""
    pmf = stats.binom.pmf(np.arange(n + 1), n, p)
    if cap is not None and cap < n:
        pmf = np.concatenate([pmf[:cap], [pmf[cap:].sum()]])
    observed = np.bincount(counts, minlength=len(pmf)).astype(float)
    assert observed.shape[0] == pmf.shape[0], "a count above the support"
    expected = pmf * len(counts)
    # merge sparse bins (expected < 5) into their neighbours
    obs_bins, exp_bins, o, e = [], [], 0.0, 0.0
    for ob, ex in zip(observed, expected):
        o, e = o + ob, e + ex
        if e >= 5:
            obs_bins.append(o)
            exp_bins.append(e)
            o = e = 0.0
    obs_bins[-1] += o
    exp_bins[-1] += e
    return stats.chisquare(obs_bins, exp_bins).pvalue


def _numpy_sampler(values, splits, rate, cap, mode, seed):
    r = mlm.mask_ragged(
        values,
        splits,
        vocab_size=1000,
        mask_token=999,
        selection_rate=rate,
        max_selections=cap,
        unselectable_ids=[0],
        selection_mode=mode,
        seed=seed,
    )
    return r.masked_values, r.masked_positions, r.masked_positions_row_splits


def _tf_sampler(values, splits, rate, cap, mode, seed):
    import tensorflow as tf

    import tf_mlm

    rt = tf.RaggedTensor.from_nested_row_splits(values, splits)
    selector = tf_mlm.RandomItemSelector(cap, rate, unselectable_ids=[0], selection_mode=mode)
    chooser = tf_mlm.MaskValuesChooser(1000, 999)
    tf.random.set_seed(seed)  # the stateful (default) TF path
    masked, positions, _ = tf_mlm.mask_language_model(rt, selector, chooser)
    return (masked.flat_values.numpy(), positions.flat_values.numpy(), positions.row_splits.numpy())


SAMPLERS = {"numpy": _numpy_sampler, "tf": _tf_sampler}


def _bernoulli_rows(rows=4000, length=42):
    """Rows of `length` tokens, two of them unselectable (id 0): 40
    selectable tokens per row at positions 1..40."""
    values = np.tile(np.concatenate([[0], np.arange(1, length - 1) + 100, [0]]), rows)
    return values.astype(np.int64), [np.arange(0, rows * length + 1, length, dtype=np.int64)]


@pytest.mark.parametrize("path", sorted(SAMPLERS))
def test_bernoulli_counts_are_binomial(path):
    values, splits = _bernoulli_rows()
    _, _, psplits = SAMPLERS[path](values, splits, 0.15, 1000, "bernoulli", 21)
    counts = np.diff(psplits)
    assert _binomial_gof_p(counts, 40, 0.15) > P_FLOOR
    # the same test rejects the exact-count law (always ceil(40 * 0.15) = 6) ...
    _, _, exact = SAMPLERS[path](values, splits, 0.15, 1000, "exact", 21)
    assert _binomial_gof_p(np.diff(exact), 40, 0.15) < 1e-12
    # ... and a Bernoulli law with the wrong rate
    assert _binomial_gof_p(counts, 40, 0.17) < P_FLOOR


@pytest.mark.parametrize("path", sorted(SAMPLERS))
def test_bernoulli_cap_truncates_the_count(path):
    values, splits = _bernoulli_rows()
    _, _, psplits = SAMPLERS[path](values, splits, 0.2, 9, "bernoulli", 22)
    counts = np.diff(psplits)
    assert counts.max() == 9
    assert _binomial_gof_p(counts, 40, 0.2, cap=9) > P_FLOOR
    assert _binomial_gof_p(counts, 40, 0.2) < P_FLOOR  # an uncapped law does not fit


@pytest.mark.parametrize("path", sorted(SAMPLERS))
def test_bernoulli_positions_uniform_and_independent(path):
    rows, rate = 4000, 0.3
    values, splits = _bernoulli_rows(rows)
    _, positions, psplits = SAMPLERS[path](values, splits, rate, 1000, "bernoulli", 23)
    assert positions.min() >= 1 and positions.max() <= 40  # never the unselectable ends
    per_position = np.bincount(positions, minlength=42)[1:41]
    # each position is chosen with probability rate in each row: binomial z-bounds
    z = (per_position - rows * rate) / math.sqrt(rows * rate * (1 - rate))
    assert np.abs(z).max() < 5.5
    assert stats.chisquare(per_position).pvalue > P_FLOOR
    # pairs: P(1 and 2 chosen) = rate**2 (independent coin flips)
    chosen = np.zeros((rows, 42), bool)
    chosen[np.repeat(np.arange(rows), np.diff(psplits)), positions] = True
    both = int((chosen[:, 1] & chosen[:, 2]).sum())
    z_pair = (both - rows * rate**2) / math.sqrt(rows * rate**2 * (1 - rate**2))
    assert abs(z_pair) < 5.5


@pytest.mark.parametrize("path", sorted(SAMPLERS))
def test_bernoulli_values_are_80_10_10(path):
    rows = 4000
    values, splits = _bernoulli_rows(rows)
    masked, positions, psplits = SAMPLERS[path](values, splits, 0.5, 1000, "bernoulli", 24)
    token = np.repeat(np.arange(rows) * 42, np.diff(psplits)) + positions
    new, old = masked[token], values[token]
    is_mask, is_same = new == 999, new == old
    observed = [is_mask.sum(), is_same.sum(), (~is_mask & ~is_same).sum()]
    vocab = 1000  # a random id may hit the mask id or the original id
    probs = [0.8 + 0.1 / vocab, 0.1 + 0.1 / vocab, 0.1 * (vocab - 2) / vocab]
    assert stats.chisquare(observed, np.array(probs) * len(token)).pvalue > P_FLOOR
    assert stats.chisquare(observed, np.array([0.7, 0.15, 0.15]) * len(token)).pvalue < P_FLOOR


def test_bernoulli_whole_words():
    # 3000 rows of 10 words of 2 pieces, one unselectable word each: 9 candidates
    rows = 3000
    pieces = np.tile(np.concatenate([[0, 0], np.arange(18) + 100]), rows).astype(np.int64)
    splits = [np.arange(0, rows * 10 + 1, 10), np.arange(0, rows * 20 + 1, 2)]
    r = mlm.mask_ragged(
        pieces,
        splits,
        vocab_size=500,
        mask_token=1,
        selection_rate=0.25,
        unselectable_ids=[0],
        selection_mode="bernoulli",
        seed=25,
    )
    tokens = np.diff(r.masked_positions_row_splits)
    assert np.all(tokens % 2 == 0)
    assert _binomial_gof_p(tokens // 2, 9, 0.25) > P_FLOOR


# ---------------------------------------------------------------------------
# Invalid input: ValueError / TypeError, never a crash

VALUES = np.array([5, 6, 7, 8], np.int64)
SPLITS = np.array([0, 2, 4], np.int64)


@pytest.mark.parametrize(
    "values,splits,error,match",
    [
        (VALUES, np.array([0, 3, 2, 4]), ValueError, "non-decreasing"),
        (VALUES, np.array([0, 2, 5]), ValueError, "must end with"),
        (VALUES, np.array([1, 2, 4]), ValueError, "must start with 0"),
        (VALUES, np.array([0, -2, 4]), ValueError, "non-decreasing"),
        (VALUES, np.array([], np.int64), ValueError, "must not be empty"),
        (VALUES, [np.array([0, 1, 3]), np.array([0, 2, 4])], ValueError, "row_splits\\[0\\]"),
        (VALUES, [np.array([0, 2], np.int32), np.array([0, 2, 4])], TypeError, "same dtype"),
        (VALUES, np.array([0.0, 2, 4]), TypeError, "row_splits"),
        (VALUES, np.array([[0, 2, 4]]), ValueError, "row_splits.*1-D"),
        (VALUES, "0,2,4", TypeError, "row_splits"),
        (VALUES.astype(np.float64), SPLITS, TypeError, "values"),
        (VALUES.astype(np.uint8), SPLITS, TypeError, "values"),
        (VALUES.astype(np.int16), SPLITS, TypeError, "values"),
        (VALUES.reshape(2, 2), SPLITS, ValueError, "values.*1-D"),
        ([1.5, 2.5, 3.5, 4.5], SPLITS, TypeError, "values"),
    ],
)
def test_invalid_ragged_input(values, splits, error, match):
    with pytest.raises(error, match=match):
        mlm.mask_ragged(values, splits, seed=0, **OPTS)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(selection_rate=-0.1), ValueError, "selection_rate"),
        (dict(selection_rate=float("inf")), ValueError, "selection_rate"),
        (dict(selection_rate=float("nan")), ValueError, "selection_rate"),
        (dict(selection_rate="0.1"), TypeError, "selection_rate"),
        (dict(mask_token_rate=-0.5), ValueError, "mask_token_rate"),
        (dict(random_token_rate=float("inf")), ValueError, "random_token_rate"),
        (dict(mask_token_rate=0.7, random_token_rate=0.4), ValueError, "<= 1"),
        (dict(max_selections=-1), ValueError, "max_selections"),
        (dict(max_selections=2.0), TypeError, "max_selections"),
        (dict(vocab_size=0, mask_token=0), ValueError, "vocab_size"),
        (dict(mask_token=True), TypeError, "mask_token"),
        (dict(axis=2), ValueError, "axis"),
        (dict(axis=0), ValueError, "axis"),
        (dict(axis=1.0), TypeError, "axis"),
        (dict(selection_mode="random"), ValueError, "selection_mode"),
        (dict(selection_mode=None), TypeError, "selection_mode"),
        (dict(pad_to=-2), ValueError, "pad_to"),
        (dict(unselectable_ids=[0.5]), TypeError, "unselectable_ids"),
        (dict(unselectable_ids=[[1, 2]]), ValueError, "unselectable_ids"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(seed="7"), TypeError, "seed"),
        (dict(seed=True), TypeError, "seed"),
        (dict(seed=(1, 2, 3)), ValueError, "seed"),
        (dict(seed=(1.0, 2)), TypeError, "seed"),
        (dict(seed=2**64), ValueError, "seed"),
        (dict(seed=(0, -(2**63) - 1)), ValueError, "seed"),
        (dict(seed=np.zeros((2, 1), np.int64)), ValueError, "seed"),
        (dict(seed=np.random.RandomState(0)), TypeError, "seed"),
    ],
)
def test_invalid_options(kwargs, error, match):
    args = dict(OPTS, seed=0)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        mlm.mask_ragged(VALUES, SPLITS, **args)


@pytest.mark.parametrize(
    "call,error,match",
    [
        (
            lambda: _core.mask_language_model(
                VALUES,
                [np.array([0, 9, 4])],
                np.zeros(0, np.int64),
                5,
                0.5,
                10,
                1,
                0.8,
                0.1,
                (0, 0),
            ),
            ValueError,
            "non-decreasing",
        ),
        (
            lambda: _core.mask_language_model(
                VALUES, [[0, 2, 4]], np.zeros(0, np.int64), 5, 0.5, 10, 1, 0.8, 0.1, (0, 0)
            ),
            TypeError,
            "numpy.ndarray",
        ),
        (
            lambda: _core.mask_language_model(
                VALUES, SPLITS, np.zeros(0, np.int64), 5, 0.5, 10, 1, 0.8, 0.1, (0, 0)
            ),
            TypeError,
            "list or tuple",
        ),
        (
            lambda: _core.mask_language_model(
                VALUES, [], np.zeros(0, np.int64), 5, 0.5, 10, 1, 0.8, 0.1, (0, 0)
            ),
            ValueError,
            "at least one",
        ),
        (
            lambda: _core.mask_language_model(
                VALUES.astype(">i8"),
                [SPLITS],
                np.zeros(0, np.int64),
                5,
                0.5,
                10,
                1,
                0.8,
                0.1,
                (0, 0),
            ),
            TypeError,
            "byte order",
        ),
        (
            lambda: _core.mask_language_model(
                VALUES, [SPLITS], np.zeros(0, np.int64), 5, 0.5, 10, 1, 0.8, 0.1, (0, -1)
            ),
            ValueError,
            "seed",
        ),
        (
            lambda: _core.mask_language_model(
                VALUES, [SPLITS], np.zeros(0, np.int64), 5, 0.5, 10, 1, 0.8, 0.1, (0,)
            ),
            ValueError,
            "seed",
        ),
        (
            lambda: _core.mask_language_model(
                VALUES, [SPLITS], np.zeros(0, np.int64), 5, 0.5, 10, 1, 0.8, 0.1, (0, 0), pad_to=-3
            ),
            ValueError,
            "pad_to",
        ),
        (
            lambda: _core.mask_language_model(
                VALUES, [SPLITS], np.zeros(0, np.int64), 5, 0.5, 10, 1, 0.8, 0.1, (0, 0), axis=3
            ),
            ValueError,
            "axis",
        ),
        (lambda: _core.ragged_to_dense(VALUES, SPLITS, 1, 0), ValueError, "more than the width"),
        (
            lambda: _core.ragged_to_dense(VALUES, np.array([0, 5, 4]), 9, 0),
            ValueError,
            "non-decreasing",
        ),
        (
            lambda: _core.ragged_to_dense(VALUES.astype(np.int32), SPLITS, 4, 2**40),
            ValueError,
            "does not fit",
        ),
        (lambda: _core.ragged_to_dense(VALUES, SPLITS, -1, 0), ValueError, "width"),
        (
            lambda: _core.scatter_to_dense(
                np.array([0, 4]), np.array([0, 1, 2]), np.array([1, 2]), 4, 0
            ),
            ValueError,
            "outside",
        ),
        (
            lambda: _core.scatter_to_dense(
                np.array([0, -1]), np.array([0, 1, 2]), np.array([1, 2]), 4, 0
            ),
            ValueError,
            "outside",
        ),
        (
            lambda: _core.scatter_to_dense(
                np.array([0, 1]), np.array([0, 1, 2]), np.array([1]), 4, 0
            ),
            ValueError,
            "same length",
        ),
        (
            lambda: _core.scatter_to_dense(
                np.array([0, 1]), np.array([0, 3]), np.array([1, 2]), 4, 0
            ),
            ValueError,
            "must end with",
        ),
        (
            lambda: _core.ragged_to_dense(VALUES, SPLITS, 9, 0, out=np.zeros((2, 9), np.int32)),
            TypeError,
            "dtype",
        ),
        (
            lambda: _core.ragged_to_dense(VALUES, SPLITS, 9, 0, out=np.zeros((2, 8), np.int64)),
            ValueError,
            "shape",
        ),
        (
            lambda: _core.ragged_to_dense(VALUES, SPLITS, 9, 0, out=np.zeros((9, 2), np.int64).T),
            ValueError,
            "C-contiguous",
        ),
        (
            lambda: _core.ragged_to_dense(VALUES, SPLITS, 9, 0, out=[[0] * 9] * 2),
            TypeError,
            "NumPy array",
        ),
        (
            lambda: _core.scatter_to_dense(
                np.array([0, 1]),
                np.array([0, 1, 2]),
                np.array([1, 2]),
                4,
                0,
                out=np.zeros(8, np.int64),
            ),
            ValueError,
            "shape",
        ),
        (
            lambda: _core.pad_sequences([np.arange(3)], 2, 0, out=np.zeros((1, 2), np.int64)),
            ValueError,
            "row 0 has 3 values",
        ),
        (
            lambda: _core.pad_sequences(
                [[1, 2.5]], 2, 0, out=np.zeros((1, 2), np.int64), integers_only=True
            ),
            TypeError,
            "sequences\\[0\\] must hold integers",
        ),
        (
            lambda: _core.pad_sequences(
                [np.arange(2), np.zeros((1, 2), np.int64)], 2, 0, out=np.zeros((2, 2), np.int64)
            ),
            ValueError,
            "sequences\\[1\\] must be 1-D",
        ),
        (
            lambda: _core.pad_sequences(np.arange(2), 2, 0, out=np.zeros((2, 2), np.int64)),
            TypeError,
            "list or tuple",
        ),
        (
            lambda: _core.pad_sequences([np.arange(2)], 2, 0, out=np.zeros((2, 2), np.int64)),
            ValueError,
            "shape",
        ),
        (
            lambda: _core.pad_sequences([np.arange(2)], 2, 0, out=np.zeros((1, 2), np.complex64)),
            TypeError,
            "dtype",
        ),
        (
            lambda: _core.pad_sequences(
                [np.arange(2, dtype=np.int32)], 2, 2**40, out=np.zeros((1, 2), np.int32)
            ),
            ValueError,
            "does not fit",
        ),
        (
            lambda: _core.pad_sequences(
                [np.arange(2)],
                2,
                0,
                out=np.zeros((1, 2), np.int64),
                mask_out=np.zeros((1, 3), np.int64),
            ),
            ValueError,
            "mask_out must have shape",
        ),
        (
            lambda: _core.pad_sequences([np.arange(2)], -1, 0, out=np.zeros((1, 2), np.int64)),
            ValueError,
            "width",
        ),
    ],
)
def test_core_module_validates_its_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_core_pad_sequences():
    rows = [np.array([5, 6, 7]), np.zeros(0, np.int64), {"input_ids": np.array([8])}]
    lengths, dtype = _core.sequence_lengths(rows)
    assert lengths.tolist() == [3, 0, 1] and dtype == np.int64
    out, mask = np.full((3, 4), -7, np.int64), np.full((3, 4), -7, np.int64)
    assert _core.pad_sequences(rows, 4, 9, out=out, mask_out=mask) is None
    assert out.tolist() == [[5, 6, 7, 9], [9, 9, 9, 9], [8, 9, 9, 9]]
    assert mask.tolist() == [[1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0]]
    small = [np.array([1, 2], np.int32)]
    assert _core.sequence_lengths(tuple(small))[1] == np.int32
    out32 = np.zeros((1, 2), np.int32)
    _core.pad_sequences(small, 2, 0, out=out32)
    assert out32.tolist() == [[1, 2]]
    # The general path's inputs: anything but exact ndarrays (or dicts of
    # them) of one int32/int64 dtype, 1-D and C-contiguous.
    for other in (
        [],
        [[1, 2]],
        [np.arange(4)[::2]],
        [np.ma.masked_array([1, 2])],
        [np.arange(2), np.arange(2, dtype=np.int32)],
        [np.arange(2.0)],
        [np.zeros((1, 2), np.int64)],
        [{"ids": np.arange(2)}],
        np.arange(3),
    ):
        assert _core.sequence_lengths(other) is None
    with pytest.raises(ValueError, match="overlap"):
        _core.pad_sequences([out[0]], 4, 0, out=out[:1])
    with pytest.raises(ValueError, match="mask_out must not overlap"):
        _core.pad_sequences(small, 2, 0, out=out32, mask_out=out32)
    both = np.zeros(5, np.int32)
    with pytest.raises(ValueError, match="mask_out must not overlap"):
        _core.pad_sequences(
            small, 2, 0, out=both[:2].reshape(1, 2), mask_out=both[1:3].reshape(1, 2)
        )


def test_core_ragged_to_dense_mask_out():
    values, splits = np.array([5, 6, 7, 8], np.int32), np.array([0, 3, 3, 4])
    out, mask = np.full((3, 4), -7, np.int32), np.full((3, 4), -7, np.int32)
    assert _core.ragged_to_dense(values, splits, 4, 9, out=out, mask_out=mask) is out
    assert out.tolist() == [[5, 6, 7, 9], [9, 9, 9, 9], [8, 9, 9, 9]]
    assert mask.tolist() == [[1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0]]
    fresh_mask = np.zeros((3, 4), np.int32)
    np.testing.assert_array_equal(
        _core.ragged_to_dense(values, splits, 4, 9, mask_out=fresh_mask), out
    )
    np.testing.assert_array_equal(fresh_mask, mask)
    with pytest.raises(ValueError, match="mask_out must not overlap"):
        _core.ragged_to_dense(values, splits, 4, 9, out=out, mask_out=out)
    with pytest.raises(TypeError, match="mask_out must have dtype"):
        _core.ragged_to_dense(values, splits, 4, 9, mask_out=np.zeros((3, 4), np.int64))


def test_non_contiguous_inputs_are_accepted():
    values = np.arange(100, 120)[::2]
    splits = np.array([0, 0, 4, 0, 10])[[0, 2, 4]]
    r = mlm.mask_ragged(
        values,
        splits,
        vocab_size=200,
        mask_token=1,
        selection_rate=1.0,
        mask_token_rate=1.0,
        random_token_rate=0.0,
        seed=0,
    )
    assert r.masked_values.tolist() == [1] * 10
    assert r.masked_positions_row_splits.tolist() == [0, 4, 10]


def test_core_out_values_in_place_and_checks():
    values, splits = token_batch(np.random.default_rng(13))
    args = (np.array(UNSELECTABLE), 10, 0.5, 500, 103, 0.8, 0.1, (1, 2))
    expected = _core.mask_language_model(values, splits, *args)
    buffer = values.copy()
    got = _core.mask_language_model(buffer, splits, *args, out_values=buffer)
    assert got[0] is buffer
    for a, b in zip(expected, got):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    for out, error, match in [
        (values[1:].copy(), ValueError, "as many elements"),
        (values.astype(np.int32), TypeError, "dtype"),
        (np.zeros(2 * len(values), values.dtype)[::2], ValueError, "C-contiguous"),
        (np.zeros_like(values).reshape(1, -1), ValueError, "1-D"),
        ([0] * len(values), TypeError, "ndarray"),
    ]:
        with pytest.raises(error, match=match):
            _core.mask_language_model(values, splits, *args, out_values=out)
    frozen = values.copy()
    frozen.setflags(write=False)
    with pytest.raises(ValueError, match="writeable"):
        _core.mask_language_model(values, splits, *args, out_values=frozen)
    shifted = np.concatenate([values, values[:1]])
    with pytest.raises(ValueError, match="overlaps"):
        _core.mask_language_model(shifted[:-1], splits, *args, out_values=shifted[1:])


def test_dense_outputs_written_into_a_given_array():
    out = np.full((2, 9), 7, np.int64)
    got = _core.ragged_to_dense(VALUES, SPLITS, 9, -1, out=out)
    assert got is out
    np.testing.assert_array_equal(out, _core.ragged_to_dense(VALUES, SPLITS, 9, -1))
    labels = np.full((2, 4), 7, np.int64)
    got = _core.scatter_to_dense(
        np.array([0, 3]), np.array([0, 1, 2]), np.array([5, 6]), 4, -100, out=labels
    )
    assert got is labels
    assert labels.tolist() == [[5, -100, -100, -100], [-100, -100, -100, 6]]
    frozen = np.zeros((2, 9), np.int64)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        _core.ragged_to_dense(VALUES, SPLITS, 9, 0, out=frozen)
    # writing into the values it reads would corrupt them
    both = np.zeros(40, np.int64)
    both[: VALUES.shape[0]] = VALUES
    with pytest.raises(ValueError, match="overlap"):
        _core.ragged_to_dense(both[: VALUES.shape[0]], SPLITS, 9, 0, out=both[:18].reshape(2, 9))


def test_any_mask_token_the_ids_hold():
    # As tensorflow_text: inside the vocabulary or not, negative included.
    values = np.array([5, 6, 7], np.int32)
    for token in (-1, 500, 2**31 - 1):
        r = mlm.mask_ragged(
            values,
            np.array([0, 3]),
            vocab_size=10,
            mask_token=token,
            selection_rate=1.0,
            mask_token_rate=1.0,
            random_token_rate=0.0,
            seed=1,
        )
        assert r.masked_values.tolist() == [token] * 3
    with pytest.raises(ValueError, match="mask_token must fit in ids of 32-bit"):
        mlm.mask_ragged(values, np.array([0, 3]), vocab_size=10, mask_token=2**31, seed=1)
