"""Masking strategies on the NumPy path (tf_mlm.numpy): word grouping,
SpanBERT spans, excluded ids and frequency-weighted replacement.

Bit-identity with the TF path for equal seeds, laws checked on the NumPy
path with fixed seeds, and the errors of bad arguments."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests import _stats
from tf_mlm import _core
from tf_mlm import numpy as mlm

VOCAB, MASK = 60, 3
SPECIAL = [0, 1, 2]


def ragged_batch(seed, rows=40, max_len=70, dtype=np.int64, splits_dtype=np.int64):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, max_len, size=rows)
    values = rng.integers(0, VOCAB, size=int(lengths.sum())).astype(dtype)
    splits = np.concatenate([[0], np.cumsum(lengths)]).astype(splits_dtype)
    return values, splits


CONTINUES = np.random.default_rng(99).random(VOCAB) < 0.4  # ~40% of ids continue a word
WEIGHTS = np.random.default_rng(98).random(VOCAB).astype(np.float32) ** 3


# ---------------------------------------------------------------------------
# Bit-identity with the TF path

tf = None


@pytest.fixture(scope="module")
def tfm():
    global tf
    tf = pytest.importorskip("tensorflow")
    import tf_mlm

    return tf_mlm


def tf_ragged(values, splits_list):
    return tf.RaggedTensor.from_nested_row_splits(
        tf.constant(values), [tf.constant(s) for s in splits_list]
    )


def assert_same(tf_out, np_out, dense=False):
    masked, positions, ids = tf_out
    assert np.array_equal(masked.flat_values.numpy(), np_out.masked_values)
    assert np.array_equal(positions.flat_values.numpy(), np_out.masked_positions)
    assert np.array_equal(positions.row_splits.numpy(), np_out.masked_positions_row_splits)
    assert np.array_equal(ids.flat_values.numpy(), np_out.masked_ids)
    assert np_out.masked_values.dtype == masked.dtype.as_numpy_dtype
    assert np_out.masked_positions.dtype == positions.row_splits.dtype.as_numpy_dtype


CHOOSERS = {
    "uniform": {},
    "excluded": dict(excluded_ids=[4, 9, 5, 200, -1, 9]),
    "frequencies": dict(replacement_frequencies=WEIGHTS),
    "frequencies+excluded": dict(replacement_frequencies=WEIGHTS, excluded_ids=[7, 8]),
}


@pytest.mark.parametrize("chooser", sorted(CHOOSERS))
@pytest.mark.parametrize(
    "dtypes", [(np.int64, np.int64), (np.int32, np.int32), (np.int64, np.int32)]
)
@pytest.mark.parametrize("seed", [(7, 1), (-5, 2**40)])
def test_spans_on_tokens_equal_the_tf_path(tfm, chooser, dtypes, seed):
    values, splits = ragged_batch(sum(seed) % 1000, dtype=dtypes[0], splits_dtype=dtypes[1])
    law = CHOOSERS[chooser]
    sel = tfm.SpanItemSelector(25, 0.3, SPECIAL, p=0.3, max_span_length=6)
    ch = tfm.MaskValuesChooser(VOCAB, MASK, 0.5, 0.4, **law)
    want = tfm.mask_language_model(tf_ragged(values, [splits]), sel, ch, seed=list(seed))
    got = mlm.mask_spans(
        values,
        splits,
        vocab_size=VOCAB,
        mask_token=MASK,
        selection_rate=0.3,
        max_selections=25,
        unselectable_ids=SPECIAL,
        p=0.3,
        max_span_length=6,
        mask_token_rate=0.5,
        random_token_rate=0.4,
        seed=seed,
        **law,
    )
    assert got.masked_weights is None
    assert_same(want, got)
    assert len(got.masked_ids) > 100


@pytest.mark.parametrize("chooser", sorted(CHOOSERS))
def test_whole_word_spans_equal_the_tf_path(tfm, chooser):
    values, splits = ragged_batch(3)
    law = CHOOSERS[chooser]
    words = mlm.group_words(values, splits, CONTINUES)
    sel = tfm.SpanItemSelector(30, 0.25, SPECIAL)  # SpanBERT's p=0.2, max 10
    ch = tfm.MaskValuesChooser(VOCAB, MASK, **law)
    grouped = tfm.group_words(tf_ragged(values, [splits]), CONTINUES)
    want = tfm.mask_language_model(grouped, sel, ch, axis=1, seed=[3, 4])
    got = mlm.mask_spans(
        values,
        words,
        vocab_size=VOCAB,
        mask_token=MASK,
        selection_rate=0.25,
        max_selections=30,
        unselectable_ids=SPECIAL,
        axis=1,
        seed=(3, 4),
        **law,
    )
    assert_same(want, got)
    # axis=2 of the same rank-3 batch: items are wordpieces again
    want = tfm.mask_language_model(grouped, sel, ch, axis=2, seed=[3, 4])
    got = mlm.mask_spans(
        values,
        words,
        vocab_size=VOCAB,
        mask_token=MASK,
        selection_rate=0.25,
        max_selections=30,
        unselectable_ids=SPECIAL,
        axis=2,
        seed=(3, 4),
        **law,
    )
    assert_same(want, got)


@pytest.mark.parametrize("chooser", sorted(CHOOSERS))
@pytest.mark.parametrize("mode", ["exact", "bernoulli"])
def test_replacement_laws_in_mask_ragged_equal_the_tf_path(tfm, chooser, mode):
    values, splits = ragged_batch(5)
    law = CHOOSERS[chooser]
    sel = tfm.RandomItemSelector(20, 0.4, SPECIAL, selection_mode=mode)
    ch = tfm.MaskValuesChooser(VOCAB, MASK, 0.2, 0.7, **law)
    for x, splits_list, axis in (
        (values, [splits], 1),
        (values, mlm.group_words(values, splits, CONTINUES), 1),
    ):
        want = tfm.mask_language_model(tf_ragged(x, splits_list), sel, ch, axis=axis, seed=[11, 12])
        got = mlm.mask_ragged(
            x,
            splits_list,
            vocab_size=VOCAB,
            mask_token=MASK,
            selection_rate=0.4,
            max_selections=20,
            unselectable_ids=SPECIAL,
            mask_token_rate=0.2,
            random_token_rate=0.7,
            axis=axis,
            selection_mode=mode,
            seed=(11, 12),
            **law,
        )
        assert_same(want, got)
        # tables built once give the same masks
        tables = mlm.replacement_tables(VOCAB, **law)
        again = mlm.mask_ragged(
            x,
            splits_list,
            vocab_size=VOCAB,
            mask_token=MASK,
            selection_rate=0.4,
            max_selections=20,
            unselectable_ids=SPECIAL,
            mask_token_rate=0.2,
            random_token_rate=0.7,
            axis=axis,
            selection_mode=mode,
            seed=(11, 12),
            replacement=tables,
        )
        assert np.array_equal(again.masked_values, got.masked_values)


def test_replacement_tables_equal_the_choosers(tfm):
    from tf_mlm._tf import fused as _fused

    ch = tfm.MaskValuesChooser(VOCAB, MASK, excluded_ids=[9, 4, 4, 100])
    t = mlm.replacement_tables(VOCAB, excluded_ids=[9, 4, 4, 100])
    assert t.excluded_ids.tolist() == _fused.replacement_inputs(ch)["excluded_ids"].numpy().tolist()
    ch = tfm.MaskValuesChooser(VOCAB, MASK, excluded_ids=[9], replacement_frequencies=WEIGHTS)
    t = mlm.replacement_tables(VOCAB, excluded_ids=[9], replacement_frequencies=WEIGHTS)
    tables = _fused.replacement_inputs(ch)
    assert np.array_equal(t.alias_prob, tables["alias_prob"].numpy())
    assert np.array_equal(t.alias_index, tables["alias_index"].numpy())


@pytest.mark.parametrize(
    "dtypes", [(np.int64, np.int64), (np.int32, np.int32), (np.int32, np.int64)]
)
def test_group_words_equals_tf_group_words(tfm, dtypes):
    values, splits = ragged_batch(8, dtype=dtypes[0], splits_dtype=dtypes[1])
    values[::7] = -3  # outside the table: starts a word
    values[::11] = VOCAB + 5
    want = tfm.group_words(tf_ragged(values, [splits]), CONTINUES)
    got = mlm.group_words(values, splits, CONTINUES)
    assert len(got) == 2
    for w, g in zip(want.nested_row_splits, got):
        assert np.array_equal(w.numpy(), g) and g.dtype == dtypes[1]
    # a 0/1 table and a list holding the splits give the same
    again = mlm.group_words(values, [splits], CONTINUES.astype(np.int8))
    assert all(np.array_equal(a, b) for a, b in zip(got, again))


def test_spans_padded_output(tfm):
    values, splits = ragged_batch(9)
    sel = tfm.SpanItemSelector(8, 0.3, SPECIAL)
    ch = tfm.MaskValuesChooser(VOCAB, MASK)
    want = tfm.mask_language_model(tf_ragged(values, [splits]), sel, ch, seed=[1, 1])
    got = mlm.mask_spans(
        values,
        splits,
        vocab_size=VOCAB,
        mask_token=MASK,
        selection_rate=0.3,
        max_selections=50,
        unselectable_ids=SPECIAL,
        seed=(1, 1),
        pad_to=8,
    )
    assert got.masked_positions.shape == got.masked_ids.shape == got.masked_weights.shape
    assert got.masked_positions.shape == (len(splits) - 1, 8)
    assert np.array_equal(got.masked_values, want[0].flat_values.numpy())
    assert np.array_equal(got.masked_positions, want[1].to_tensor(0, shape=[None, 8]).numpy())
    assert np.array_equal(got.masked_weights.sum(1), want[1].row_lengths().numpy())


# ---------------------------------------------------------------------------
# Laws on the NumPy path


def one_row(n, token=7):
    return np.full(n, token, np.int64), np.array([0, n], np.int64)


def test_frequency_weighted_replacement_follows_the_table():
    weights = np.array([5, 0, 1, 3, 0.5, 0, 2, 8, 4, 1], np.float32)
    values, splits = one_row(30000)
    r = mlm.mask_ragged(
        values,
        splits,
        vocab_size=10,
        mask_token=3,
        selection_rate=1.0,
        mask_token_rate=0.0,
        random_token_rate=1.0,
        seed=(3, 9),
        replacement_frequencies=weights,
        excluded_ids=[6],
    )
    counts = np.bincount(r.masked_values, minlength=10)
    expected = weights.astype(np.float64)
    expected[6] = 0  # excluded: weighs 0
    assert counts[expected == 0].sum() == 0
    nz = expected > 0
    fit = _stats.stats.chisquare(counts[nz], counts.sum() * expected[nz] / expected.sum())
    assert fit.pvalue > _stats.P_FLOOR
    # a wrong law fails: the table without the exclusion, and uniform
    support = weights > 0
    wrong = weights[support].astype(np.float64) / weights[support].sum()
    assert _stats.stats.chisquare(counts[support], counts.sum() * wrong).pvalue < _stats.P_FLOOR
    assert _stats.uniform_p(counts[nz]) < _stats.P_FLOOR


def test_excluded_ids_are_never_drawn_and_the_rest_is_uniform():
    values, splits = one_row(20000)
    excluded = [0, 3, 5, 11, 42]
    r = mlm.mask_spans(
        values,
        splits,
        vocab_size=12,
        mask_token=3,
        selection_rate=1.0,
        mask_token_rate=0.0,
        random_token_rate=1.0,
        seed=(1, 1),
        excluded_ids=excluded,
    )
    counts = np.bincount(r.masked_values, minlength=12)
    assert counts[[0, 3, 5, 11]].sum() == 0
    rest = np.setdiff1d(np.arange(12), excluded)
    assert _stats.uniform_p(counts[rest]) > _stats.P_FLOOR
    # wrong laws fail: uniform over the whole vocabulary, or a skewed one
    assert _stats.uniform_p(counts) < _stats.P_FLOOR
    skewed = np.linspace(1, 2, rest.size)
    assert (
        _stats.stats.chisquare(counts[rest], counts.sum() * skewed / skewed.sum()).pvalue
        < _stats.P_FLOOR
    )


def test_mask_random_keep_split_with_exclusions():
    n = 30000
    values, splits = one_row(n, token=50)
    r = mlm.mask_ragged(
        values,
        splits,
        vocab_size=4,
        mask_token=3,
        selection_rate=1.0,
        mask_token_rate=0.5,
        random_token_rate=0.3,
        seed=(4, 4),
        excluded_ids=[3],
    )
    counts = np.bincount(r.masked_values, minlength=51)
    assert abs(_stats.binomial_z(counts[3], n, 0.5)) < 6  # random draws never give the mask id
    assert abs(_stats.binomial_z(counts[50], n, 0.2)) < 6
    assert _stats.uniform_p(counts[:3]) > _stats.P_FLOOR
    assert abs(_stats.binomial_z(counts[:3].sum(), n, 0.3)) < 6
    # wrong law: random ids uniform over the whole vocabulary, 3 included
    assert abs(_stats.binomial_z(counts[3], n, 0.5 + 0.3 / 4)) > 6


def runs(positions):
    breaks = np.flatnonzero(np.diff(positions) != 1)
    edges = np.concatenate([[0], breaks + 1, [len(positions)]])
    return np.diff(edges)


def test_spans_spend_the_budget_and_skip_unselectable_tokens():
    rng = np.random.default_rng(1)
    rows = []
    for n in rng.integers(20, 200, size=300):
        row = rng.integers(1000, 2000, size=n)
        row[rng.random(n) < 0.05] = 0
        rows.append(np.concatenate([[101], row, [102]]))
    values, splits = mlm.ragged_from_sequences(rows)
    r = mlm.mask_spans(
        values,
        splits,
        vocab_size=30522,
        mask_token=103,
        selection_rate=0.15,
        unselectable_ids=[0, 101, 102],
        mask_token_rate=1.0,
        random_token_rate=0.0,
        seed=5,
    )
    bounds = r.masked_positions_row_splits
    lengths = []
    for b, row in enumerate(rows):
        pos = r.masked_positions[bounds[b] : bounds[b + 1]]
        selectable = int(np.isin(row, [0, 101, 102], invert=True).sum())
        assert len(pos) == int(np.ceil(np.float32(selectable) * np.float32(0.15)))
        assert not np.isin(row[pos], [0, 101, 102]).any()
        lengths += runs(pos).tolist()
    assert np.mean(lengths) > 2.0  # spans, not single tokens


def test_spans_spend_the_whole_budget_at_rate_one():
    # The repro: row 3773 (200 tokens) ended one token short under
    # the old attempt cap.
    r = mlm.mask_spans(
        np.full(200, 10),
        np.array([0] * 3773 + [200]),
        vocab_size=100,
        mask_token=3,
        selection_rate=1.0,
        seed=(7, 8),
    )
    assert len(r.masked_positions) == 200
    # Many seeds and row lengths: every selectable token of every row masked.
    rng = np.random.default_rng(11)
    for seed in range(6):
        lengths = rng.integers(0, 400, size=300)
        values = rng.integers(3, 50, size=int(lengths.sum()))
        values[rng.random(values.size) < 0.05] = 0
        splits = np.concatenate([[0], np.cumsum(lengths)])
        r = mlm.mask_spans(
            values,
            splits,
            vocab_size=VOCAB,
            mask_token=MASK,
            selection_rate=1.0,
            unselectable_ids=[0],
            seed=(seed, 99),
        )
        counts = np.diff(r.masked_positions_row_splits)
        selectable = np.add.reduceat(values != 0, splits[:-1]) * (lengths > 0)
        assert counts.tolist() == selectable.tolist()


def test_span_lengths_follow_the_clipped_geometric_law():
    # A budget of max_len tokens in long rows: a row is a single run of
    # max_len exactly when its first span drew max_len (merges are rare).
    p, max_len, rows = 0.3, 6, 4000
    values = np.tile(np.arange(1000, 1600, dtype=np.int64), rows)
    splits = np.arange(0, 600 * rows + 1, 600, dtype=np.int64)
    r = mlm.mask_spans(
        values,
        splits,
        vocab_size=30522,
        mask_token=103,
        selection_rate=1.0,
        max_selections=max_len,
        p=p,
        max_span_length=max_len,
        seed=(8, 1),
    )
    per_row = np.split(r.masked_positions, r.masked_positions_row_splits[1:-1])
    assert all(len(x) == max_len for x in per_row)
    single = sum(1 for x in per_row if len(runs(x)) == 1)
    law = np.array([p * (1 - p) ** (l - 1) for l in range(1, max_len + 1)])
    law /= law.sum()
    assert abs(_stats.binomial_z(single, rows, law[-1])) < 6
    # clipping by piling the tail onto max_len (P = (1-p)^5 = 0.168) is far off
    assert abs(_stats.binomial_z(single, rows, (1 - p) ** (max_len - 1))) > 6


def test_whole_word_spans_never_split_a_word():
    table = mlm.wordpiece_continuation_table(["[CLS]", "a", "##b", "##c", "d", "##e"])
    rng = np.random.default_rng(2)
    rows = [rng.integers(1, 6, size=int(n)) for n in rng.integers(10, 80, size=200)]
    values, splits = mlm.ragged_from_sequences(rows)
    words = mlm.group_words(values, splits[0], table)
    r = mlm.mask_spans(
        values, words, vocab_size=6, mask_token=0, selection_rate=0.3, axis=1, seed=3
    )
    chosen = np.zeros(len(values), bool)
    starts = splits[0][np.repeat(np.arange(len(rows)), np.diff(r.masked_positions_row_splits))]
    chosen[starts + r.masked_positions] = True
    word_of_token = np.repeat(np.arange(len(words[1]) - 1), np.diff(words[1]))
    per_word = np.bincount(word_of_token, weights=chosen, minlength=len(words[1]) - 1)
    assert np.all((per_word == 0) | (per_word == np.diff(words[1])))
    assert chosen.any()


# ---------------------------------------------------------------------------
# Errors

V, S = np.array([5, 6, 7]), np.array([0, 3])
BASE = dict(vocab_size=10, mask_token=1)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(excluded_ids=[1.5]), TypeError, "excluded_ids"),
        (dict(excluded_ids=list(range(10))), ValueError, "excluded_ids"),
        (dict(replacement_frequencies=[1, 2]), ValueError, "vocab_size"),
        (dict(replacement_frequencies=["a"] * 10), TypeError, "replacement_frequencies"),
        (dict(replacement_frequencies=[0] * 10), ValueError, "replacement_frequencies"),
        (dict(replacement_frequencies=[1] * 9 + [-1]), ValueError, "replacement_frequencies"),
        (dict(replacement_frequencies=[1] * 9 + [np.inf]), ValueError, "replacement_frequencies"),
        (
            dict(replacement_frequencies=[1] + [0] * 9, excluded_ids=[0]),
            ValueError,
            "replacement_frequencies",
        ),
        (dict(replacement=mlm.replacement_tables(10), excluded_ids=[1]), ValueError, "either"),
        (dict(replacement=mlm.replacement_tables(11)), ValueError, "vocab_size"),
        (dict(replacement=(1, 2, 3, 4)), TypeError, "ReplacementTables"),
    ],
)
@pytest.mark.parametrize("fn", [mlm.mask_ragged, mlm.mask_spans])
def test_bad_replacement_arguments(fn, kwargs, error, match):
    with pytest.raises(error, match=match):
        fn(V, S, **BASE, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(p=0.0), ValueError, "p must be in"),
        (dict(p=1.5), ValueError, "p must be in"),
        (dict(p=float("nan")), ValueError, "p must be in"),
        (dict(p="0.2"), TypeError, "`p`"),
        (dict(max_span_length=0), ValueError, "max_span_length"),
        (dict(max_span_length=2.0), TypeError, "max_span_length"),
        (dict(selection_rate=-1.5), ValueError, "selection_rate"),
        (dict(max_selections=-1), ValueError, "max_selections"),
        (dict(axis=2), ValueError, "axis"),
        (dict(pad_to=-2), ValueError, "pad_to"),
        (dict(selection_rate=float("nan")), ValueError, "selection_rate"),
        (dict(seed=(1, 2, 3)), ValueError, "seed"),
    ],
)
def test_bad_span_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        mlm.mask_spans(V, S, **dict(BASE, **kwargs))


def test_bad_span_data():
    with pytest.raises(TypeError, match="values"):
        mlm.mask_spans(V.astype(np.float32), S, **BASE)
    with pytest.raises(ValueError, match="row_splits"):
        mlm.mask_spans(V, np.array([0, 4]), **BASE)
    with pytest.raises(ValueError, match="row_splits"):
        mlm.mask_spans(V, [np.array([0, 1]), np.array([0, 2])], **BASE)
    with pytest.raises(ValueError, match="vocab_size"):
        mlm.mask_spans(V.astype(np.int32), S, vocab_size=2**31 + 1, mask_token=1)


def test_bad_group_words_arguments():
    with pytest.raises(ValueError, match="continuation_table"):
        mlm.group_words(V, S, [[True]])
    with pytest.raises(TypeError, match="continuation_table"):
        mlm.group_words(V, S, ["yes", "no"])
    with pytest.raises(ValueError, match="one splits vector"):
        mlm.group_words(V, [S, S], [True])
    with pytest.raises(ValueError, match="row_splits"):
        mlm.group_words(V, np.array([0, 2]), [True])
    with pytest.raises(TypeError, match="values"):
        mlm.group_words(V.astype(float), S, [True])


def test_core_validates_every_replacement_input():
    args = (V, [S], np.zeros(0, np.int64), 5, 1.0, 10, 1, 0.0, 1.0, (1, 2))
    with pytest.raises(ValueError, match="sorted and unique"):
        _core.mask_language_model(*args, excluded_ids=np.array([4, 2]))
    with pytest.raises(ValueError, match="excluded ids must be in"):
        _core.mask_language_model(*args, excluded_ids=np.array([10]))
    with pytest.raises(TypeError, match="excluded_ids"):
        _core.mask_language_model(*args, excluded_ids=np.array([1.0]))
    prob, index = _core.build_alias_table(np.ones(10, np.float32))
    with pytest.raises(ValueError, match="together"):
        _core.mask_language_model(*args, alias_prob=prob)
    with pytest.raises(TypeError, match="alias_prob"):
        _core.mask_language_model(*args, alias_prob=prob.astype(np.float64), alias_index=index)
    with pytest.raises(ValueError, match="malformed alias table"):
        _core.mask_language_model(*args, alias_prob=prob, alias_index=index + 5)
    with pytest.raises(ValueError, match="vocab_size"):
        _core.mask_language_model(*args, alias_prob=prob[:5], alias_index=index[:5])
    with pytest.raises(TypeError, match="weights"):
        _core.build_alias_table(np.ones(3, np.int64))
    with pytest.raises(ValueError, match="empty"):
        _core.build_alias_table(np.ones(0, np.float32))
    with pytest.raises(TypeError, match="continues_word"):
        _core.group_words(V, S, np.ones(3, np.uint8))
    with pytest.raises(ValueError, match="alias_prob"):
        _core.mask_spans(
            V,
            [S],
            np.zeros(0, np.int64),
            5,
            1.0,
            0.2,
            10,
            10,
            1,
            0.0,
            1.0,
            (1, 2),
            alias_prob=prob,
            alias_index=index[:3],
        )


def test_strategies_without_tensorflow():
    code = textwrap.dedent("""
        import sys
        sys.modules["tensorflow"] = None  # `import tensorflow` raises
        import numpy as np
        from tf_mlm import numpy as mlm
        table = mlm.sentencepiece_continuation_table(["<s>", "\\u2581a", "b", "\\u2581c"])
        words = mlm.group_words(np.array([0, 1, 2, 3]), np.array([0, 4]), table)
        r = mlm.mask_spans(np.array([0, 1, 2, 3]), words, vocab_size=4, mask_token=0,
                           selection_rate=1.0, excluded_ids=[0], seed=1)
        t = mlm.replacement_tables(4, replacement_frequencies=[1, 1, 1, 1])
        mlm.mask_ragged(np.array([1, 2]), np.array([0, 2]), vocab_size=4, mask_token=0,
                        replacement=t, seed=2)
        assert [w.tolist() for w in words] == [[0, 3], [0, 1, 3, 4]], words
        assert len(r.masked_positions) == 4
        print("ok")
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# ---------------------------------------------------------------------------
# Collator options


def test_collator_whole_words_and_replacement_options():
    from tf_mlm.collator import MLMCollator

    table = mlm.wordpiece_continuation_table(["[PAD]", "[MASK]", "a", "##b", "##c", "d", "e"])
    rng = np.random.default_rng(0)
    examples = [rng.integers(2, 7, size=int(n)) for n in rng.integers(5, 40, size=64)]
    weights = np.array([0, 0, 1, 1, 1, 1, 30], np.float32)
    kwargs = dict(vocab_size=7, mask_token=1, selection_rate=0.3, seed=3)
    batch = MLMCollator(
        continuation_table=table, replacement_frequencies=weights, excluded_ids=[5], **kwargs
    )(examples)
    # the same masks as tf_mlm.numpy on the grouped words, with the collator's seed
    values, splits = mlm.ragged_from_sequences(examples)
    seed = mlm.resolve_seed(np.random.default_rng(3))
    want = mlm.mask_ragged(
        values,
        mlm.group_words(values, splits[0], table),
        axis=1,
        unselectable_ids=[0],
        replacement_frequencies=weights,
        excluded_ids=[5],
        seed=seed,
        **{k: v for k, v in kwargs.items() if k != "seed"},
    )
    got = batch["input_ids"][batch["attention_mask"].astype(bool)]
    assert np.array_equal(got, want.masked_values)
    # words are never split: a continuation piece is labelled iff its word start is
    labels = batch["labels"]
    for row, lab in zip(examples, labels):
        for i in range(1, len(row)):
            if table[row[i]]:
                assert (lab[i] == -100) == (lab[i - 1] == -100)
    replaced = got[(got != values) & (got != 1)]
    assert replaced.size and not np.isin(replaced, [0, 1, 5]).any()
    with pytest.raises(ValueError, match="continuation_table"):
        MLMCollator(continuation_table=[[True]], **kwargs)
    with pytest.raises(ValueError, match="replacement_frequencies"):
        MLMCollator(replacement_frequencies=[1, 2], **kwargs)


def test_benchmark_strategies_section(tfm):
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import reference, report, strategies

    tiny = reference.Reference(rows=4, min_len=8, max_len=24)
    rows = report.add_ratios(strategies.bench_strategies({"tf_mlm": tfm}, tiny, repeats=1))
    assert {(r["system"], r["mode"]) for r in rows} == {
        (system, strategies.mode(s, path))
        for s in strategies.STRATEGIES
        for system, path in (("tf_mlm", "tf.function"), (strategies.NUMPY, "NumPy core"))
    }
    assert all(r["ms"] > 0 and r["vs_baseline"] > 0 for r in rows)
    assert "x baseline" in report.render_text({"reference_description": "", "rows": rows})
