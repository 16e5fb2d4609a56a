"""The contract of tf_mlm.mask_language_model (docs/semantics.md)."""

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import tf_mlm

VOCAB, MASK, CLS, SEP = 30522, 103, 101, 102


def random_batch(rng, rows, lo, hi, dtype=tf.int64, splits_dtype=tf.int64, special=True):
    lengths = rng.integers(lo, hi + 1, size=rows)
    values = rng.integers(1000, 2000, size=int(lengths.sum()))
    if special:  # [CLS] ... [SEP] around every non-empty row
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for s, n in zip(starts, lengths):
            if n:
                values[s] = CLS
                values[s + n - 1] = SEP
    return tf.RaggedTensor.from_row_lengths(
        tf.constant(values, dtype), tf.constant(lengths, splits_dtype)
    )


def bert(rate=0.15, cap=76, mask_rate=0.8, random_rate=0.1, unselectable=(0, CLS, SEP)):
    return (
        tf_mlm.RandomItemSelector(cap, rate, unselectable_ids=list(unselectable)),
        tf_mlm.MaskValuesChooser(VOCAB, MASK, mask_rate, random_rate),
    )


def expected_count(selectable, rate, cap):
    return min(math.ceil(np.float32(selectable) * np.float32(rate)), cap)


@pytest.mark.parametrize("dtype", [tf.int32, tf.int64])
@pytest.mark.parametrize("splits_dtype", [tf.int32, tf.int64])
def test_token_level_contract(dtype, splits_dtype):
    rng = np.random.default_rng(0)
    ids = random_batch(rng, 64, 0, 40, dtype, splits_dtype)
    masked, positions, labels = tf_mlm.mask_language_model(ids, *bert(0.15, 5), seed=[1, 2])
    assert masked.dtype == dtype and labels.dtype == dtype
    assert positions.dtype == splits_dtype  # tensorflow_text: the row splits' dtype
    assert masked.row_splits.dtype == splits_dtype
    np.testing.assert_array_equal(masked.row_splits, ids.row_splits)
    for row, m, p, l in zip(ids.to_list(), masked.to_list(), positions.to_list(), labels.to_list()):
        selectable = sum(t not in (0, CLS, SEP) for t in row)
        assert len(p) == expected_count(selectable, 0.15, 5)
        assert p == sorted(set(p))
        assert all(row[i] not in (CLS, SEP) for i in p)
        assert l == [row[i] for i in p]
        # Only the selected positions may change.
        assert all(m[i] == row[i] for i in range(len(row)) if i not in p)


def test_whole_word_masking_masks_all_pieces_of_a_word():
    rng = np.random.default_rng(1)
    words_per_row = rng.integers(1, 30, size=50)
    pieces = rng.integers(1, 4, size=int(words_per_row.sum()))
    values = rng.integers(1000, 2000, size=int(pieces.sum()))
    words = tf.RaggedTensor.from_nested_row_lengths(values, [words_per_row, pieces])
    masked, positions, labels = tf_mlm.mask_language_model(words, *bert(0.2, 4), seed=[3, 4])
    # [batch, (tokens)], as tensorflow_text returns it; keep_structure keeps the words.
    assert masked.ragged_rank == 1 and masked.row_splits.dtype == words.row_splits.dtype
    np.testing.assert_array_equal(masked.row_splits, words.merge_dims(1, 2).row_splits)
    nested, _, _ = tf_mlm.mask_language_model(
        words, *bert(0.2, 4), seed=[3, 4], keep_structure=True
    )
    assert nested.ragged_rank == 2
    np.testing.assert_array_equal(nested.nested_row_splits[1], words.nested_row_splits[1])
    np.testing.assert_array_equal(nested.flat_values, masked.values)
    for row, p, l in zip(words.to_list(), positions.to_list(), labels.to_list()):
        starts = np.cumsum([0] + [len(w) for w in row])
        chosen = [
            i for i, (a, b) in enumerate(zip(starts[:-1], starts[1:])) if set(range(a, b)) & set(p)
        ]
        # every piece of a touched word is masked; the word count is exact
        assert sorted(p) == p
        assert p == [t for i in chosen for t in range(starts[i], starts[i + 1])]
        assert len(chosen) == expected_count(len(row), 0.2, 4)
        flat = [t for w in row for t in w]
        assert l == [flat[i] for i in p]


def test_word_with_an_unselectable_piece_is_unselectable():
    words = tf.ragged.constant([[[CLS], [5, 6], [7, SEP]], [[8], [9, 10, 11]]], tf.int64)
    _, positions, _ = tf_mlm.mask_language_model(words, *bert(1.0, 10), seed=[0, 0])
    assert positions.to_list() == [[1, 2], [0, 1, 2, 3]]


def test_rates_zero_and_one():
    ids = tf.ragged.constant([[CLS, 5, 6, 7, SEP], [CLS, 8, SEP], []], tf.int64)
    masked, positions, labels = tf_mlm.mask_language_model(ids, *bert(1.0, 10, 1.0, 0.0))
    assert masked.to_list() == [[CLS, MASK, MASK, MASK, SEP], [CLS, MASK, SEP], []]
    assert positions.to_list() == [[1, 2, 3], [1], []]
    assert labels.to_list() == [[5, 6, 7], [8], []]
    masked, positions, _ = tf_mlm.mask_language_model(ids, *bert(0.0, 10))
    assert masked.to_list() == ids.to_list() and positions.to_list() == [[], [], []]
    masked, _, _ = tf_mlm.mask_language_model(ids, *bert(1.0, 10, 0.0, 0.0))
    assert masked.to_list() == ids.to_list()  # selected but kept
    masked, _, _ = tf_mlm.mask_language_model(ids, *bert(1.0, 0))
    assert masked.to_list() == ids.to_list()  # cap 0


def test_random_replacements_stay_in_vocabulary():
    ids = tf.ragged.constant([[5] * 200], tf.int64)
    sel = tf_mlm.RandomItemSelector(1000, 1.0)
    chooser = tf_mlm.MaskValuesChooser(7, 3, 0.0, 1.0)
    masked, _, _ = tf_mlm.mask_language_model(ids, sel, chooser, seed=[5, 5])
    assert set(masked.flat_values.numpy()) == set(range(7))
    chooser = tf_mlm.MaskValuesChooser(1, 0, 0.0, 1.0)  # vocab_size 1
    masked, _, _ = tf_mlm.mask_language_model(ids, sel, chooser)
    assert set(masked.flat_values.numpy()) == {0}


def test_dense_tensor_and_lists():
    dense = tf.constant([[CLS, 5, 6, SEP], [CLS, 7, 8, SEP]], tf.int32)
    masked, positions, labels = tf_mlm.mask_language_model(dense, *bert(1.0, 10, 1.0, 0.0))
    assert isinstance(masked, tf.Tensor) and masked.dtype == tf.int32
    assert masked.numpy().tolist() == [[CLS, MASK, MASK, SEP], [CLS, MASK, MASK, SEP]]
    assert positions.to_list() == [[1, 2], [1, 2]]
    masked, positions, _ = tf_mlm.mask_language_model(
        [[CLS, 5, SEP], [6]], *bert(1.0, 10, 1.0, 0.0)
    )
    assert masked.to_list() == [[CLS, MASK, SEP], [MASK]]
    assert positions.to_list() == [[1], [0]]


def test_empty_batch_and_empty_rows():
    empty = tf.RaggedTensor.from_row_splits(tf.zeros([0], tf.int64), tf.zeros([1], tf.int64))
    masked, positions, labels = tf_mlm.mask_language_model(empty, *bert())
    assert masked.shape[0] == 0 and positions.shape[0] == 0 and labels.shape[0] == 0
    rows = tf.ragged.constant([[], [], [CLS]], tf.int64)
    masked, positions, _ = tf_mlm.mask_language_model(rows, *bert(1.0))
    assert masked.to_list() == [[], [], [CLS]] and positions.to_list() == [[], [], []]


def test_stateless_seed_is_reproducible_and_seed_sensitive():
    ids = random_batch(np.random.default_rng(2), 32, 10, 60)
    a = tf_mlm.mask_language_model(ids, *bert(), seed=[7, 8])
    b = tf_mlm.mask_language_model(ids, *bert(), seed=tf.constant([7, 8], tf.int32))
    c = tf_mlm.mask_language_model(ids, *bert(), seed=[7, 9])
    for x, y in zip(a, b):
        assert x.to_list() == y.to_list()
    assert a[1].to_list() != c[1].to_list()


def test_stateful_randomness_honours_set_seed_eager_and_function():
    ids = random_batch(np.random.default_rng(3), 16, 10, 60)
    sel, chooser = bert()

    def run_eager():
        tf.random.set_seed(1234)
        return [tf_mlm.mask_language_model(ids, sel, chooser)[1].to_list() for _ in range(2)]

    first, second = run_eager(), run_eager()
    assert first == second
    assert first[0] != first[1]  # fresh randomness per call

    def run_function():
        tf.random.set_seed(99)
        fn = tf.function(lambda x: tf_mlm.mask_language_model(x, sel, chooser)[1])
        return [fn(ids).to_list() for _ in range(2)]

    f1, f2 = run_function(), run_function()
    assert f1 == f2 and f1[0] != f1[1]
    # An op-level seed makes results reproducible too.
    tf.random.set_seed(5)
    x = tf_mlm.mask_language_model(ids, sel, chooser, seed=17)[1].to_list()
    tf.random.set_seed(5)
    assert tf_mlm.mask_language_model(ids, sel, chooser, seed=17)[1].to_list() == x


def test_tf_function_with_unknown_shapes_and_tf_data():
    sel, chooser = bert()
    spec = tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1, row_splits_dtype=tf.int64)

    @tf.function(input_signature=[spec, tf.TensorSpec([2], tf.int64)])
    def fn(x, seed):
        return tf_mlm.mask_language_model(x, sel, chooser, seed=seed)

    ids = random_batch(np.random.default_rng(4), 8, 5, 30)
    eager = tf_mlm.mask_language_model(ids, sel, chooser, seed=[1, 1])
    traced = fn(ids, tf.constant([1, 1], tf.int64))
    for x, y in zip(eager, traced):
        assert x.to_list() == y.to_list()

    rows = [list(range(1000, 1000 + n)) for n in range(1, 40)]
    ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant(rows, tf.int64)).batch(4)
    ds = ds.map(
        lambda x: tf_mlm.mask_language_model(x, sel, chooser), num_parallel_calls=tf.data.AUTOTUNE
    )
    total = 0
    for masked, positions, labels in ds:
        for p, l, row in zip(
            positions.to_list(), labels.to_list(), [r for r in rows[total : total + 4]]
        ):
            assert l == [row[i] for i in p]
            assert len(p) == expected_count(len(row), 0.15, 76)
        total += masked.shape[0]
    assert total == len(rows)


def test_tf1_graph_mode_session():
    sel, chooser = bert(1.0, 10, 1.0, 0.0)
    with tf.Graph().as_default():
        ids = tf.ragged.constant([[CLS, 5, SEP], [6, 7]], tf.int64)
        out = tf_mlm.mask_language_model(ids, sel, chooser)
        with tf.compat.v1.Session() as sess:
            masked, positions, labels = sess.run(out)
    assert masked.to_list() == [[CLS, MASK, SEP], [MASK, MASK]]
    assert positions.to_list() == [[1], [0, 1]]
    assert labels.to_list() == [[5], [6, 7]]


def test_results_do_not_depend_on_thread_count():
    script = textwrap.dedent("""
        import hashlib, sys, numpy as np, tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[1]))
        import tf_mlm
        rng = np.random.default_rng(0)
        lengths = rng.integers(128, 513, size=2048)
        ids = tf.RaggedTensor.from_row_lengths(
            rng.integers(0, 30522, size=int(lengths.sum())), lengths)
        sel = tf_mlm.RandomItemSelector(76, 0.15, [0, 101, 102])
        ch = tf_mlm.MaskValuesChooser(30522, 103)
        out = tf_mlm.mask_language_model(ids, sel, ch, seed=[11, 12])
        h = hashlib.sha256(b''.join(o.flat_values.numpy().tobytes() for o in out)).hexdigest()
        print(h, out[1].flat_values.shape[0])
    """)
    outs = [
        subprocess.run(
            [sys.executable, "-c", script, str(n)], capture_output=True, text=True, check=True
        ).stdout.split()[-2:]
        for n in (1, 2, 8)
    ]
    assert outs[0] == outs[1] == outs[2], outs
    assert int(outs[0][1]) > 10000


@pytest.mark.parametrize("whole_word", [False, True])
@pytest.mark.parametrize("unselectable", [(0, CLS, SEP), tuple(range(1000, 1500))])
def test_in_place_output_equals_copied_output_and_input_is_untouched(whole_word, unselectable):
    # Inside a graph the kernel may write the masked values into the input's
    # own buffer (when nothing else holds it); the result must be the same
    # as when it copies, and a tensor someone still holds is never modified.
    ids = random_batch(np.random.default_rng(5), 64, 1, 300)
    if whole_word:  # the same tokens as words of 1-3 pieces
        pieces = np.random.default_rng(6).integers(1, 4, size=int(ids.flat_values.shape[0]))
        ends = np.minimum(np.cumsum(pieces), ids.flat_values.shape[0])
        ends = np.unique(np.concatenate([ends, ids.row_splits.numpy()[1:]]))
        word_splits = np.concatenate([[0], ends])
        ids = tf.RaggedTensor.from_row_splits(
            tf.RaggedTensor.from_row_splits(ids.flat_values, word_splits),
            np.searchsorted(word_splits, ids.row_splits.numpy()),
        )
    before = ids.flat_values.numpy().copy()
    selector, chooser = bert(unselectable=unselectable)
    held = tf_mlm.mask_language_model(ids, selector, chooser, seed=[3, 4])

    @tf.function
    def fresh_input(rt):
        # abs() (ids are >= 0) makes a tensor nothing else references, which
        # TF may forward; Grappler would simplify `+ 0` or identity away
        return tf_mlm.mask_language_model(
            rt.with_flat_values(tf.abs(rt.flat_values)), selector, chooser, seed=[3, 4]
        )

    forwarded = fresh_input(ids)
    for a, b in zip(held, forwarded):
        assert a.to_list() == b.to_list()
    np.testing.assert_array_equal(ids.flat_values.numpy(), before)
    assert held[1].flat_values.shape[0] > 0
