"""T5 span corruption without t5 or seqio: ``tf_mlm.span_corruption`` and
``tf_mlm.numpy.span_corruption``.

The masks are checked bit for bit against an oracle written here from
TensorFlow's own stateless ops (the uniforms, their stable order, the roll
offset), so these tests pin t5's algorithm without t5; tests/test_t5.py
compares with t5 itself.
"""

import numpy as np
import pytest
import tensorflow as tf

import tf_mlm
from tests._t5_oracle import oracle_mask, oracle_sentinels, span_counts
from tf_mlm import _core
from tf_mlm import numpy as mlm
from tf_mlm._tf import library as _library


def random_batch(rng, lengths, dtype=np.int32):
    rows = [rng.integers(2, 30000, size=n).astype(dtype) for n in lengths]
    return tf.ragged.constant(rows, dtype=tf.as_dtype(dtype), row_splits_dtype=tf.int64), rows


def random_seeds(rng, rows, shape=(2, 2)):
    return rng.integers(-(2**62), 2**62, size=(rows, *shape), dtype=np.int64)


# --- tf_mlm.span_corruption -------------------------------------------------------------------


@pytest.mark.parametrize("density", [0.0, 0.15, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("mean", [1.0, 2.0, 3.0, 5.5])
@pytest.mark.parametrize("roll", [False, True])
def test_masks_match_the_oracle(density, mean, roll):
    rng = np.random.default_rng([int(density * 100), int(mean * 10), roll])
    lengths = list(range(0, 40)) + [100, 190, 350, 568]
    tokens, rows = random_batch(rng, lengths)
    seeds = random_seeds(rng, len(rows))
    expected = [oracle_mask(len(r), density, s, mean, roll) for r, s in zip(rows, seeds)]
    run = lambda: tf_mlm.span_corruption(  # noqa: E731
        tokens, seeds, noise_density=density, mean_noise_span_length=mean, vocab_size=32100,
        random_roll=roll,
    )  # fmt: skip
    if any(e is None for e in expected):  # more spans than non-noise tokens
        with pytest.raises(tf.errors.InvalidArgumentError):
            run()
        return
    out = run()
    for b, (row, mask) in enumerate(zip(rows, expected)):
        assert out.noise_mask[b].numpy().tolist() == mask.tolist(), (b, len(row))
        assert out.inputs[b].numpy().tolist() == oracle_sentinels(row, mask, 32099)
        assert out.targets[b].numpy().tolist() == oracle_sentinels(row, ~mask, 32099)


def test_a_valid_density_never_errs_and_counts_are_t5s():
    rng = np.random.default_rng(3)
    tokens, rows = random_batch(rng, range(0, 600))
    out = tf_mlm.span_corruption(tokens, [5, 6], vocab_size=100)
    for b, row in enumerate(rows):
        mask = out.noise_mask[b].numpy()
        _, noise, spans = span_counts(len(row), 0.15, 3.0)
        starts = int(np.sum(mask & ~np.concatenate([[False], mask[:-1]])))
        if len(row) >= 2:  # (shorter rows are corrupted as if of length 2, then cut)
            assert int(mask.sum()) == noise and starts == spans


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_dtypes_and_shapes(dtype):
    tokens, _ = random_batch(np.random.default_rng(0), [5, 0, 12], dtype)
    out = tf_mlm.span_corruption(tokens, [1, 2], first_sentinel=99)
    assert isinstance(out, tf_mlm.SpanCorruption)
    assert out.inputs.dtype == out.targets.dtype == tf.as_dtype(dtype)
    assert out.noise_mask.dtype == tf.bool
    assert out.inputs.nrows() == out.targets.nrows() == 3
    assert out.noise_mask.row_lengths().numpy().tolist() == [5, 0, 12]


def test_the_three_seed_forms_agree():
    tokens, rows = random_batch(np.random.default_rng(1), [50, 7, 90, 0])
    seed = tf.constant([11, -12], tf.int64)
    example_seeds = tf.random.experimental.stateless_split(seed, len(rows))
    mask_seeds = tf.stack(
        [tf.random.experimental.stateless_split(s, 6)[:2] for s in tf.unstack(example_seeds)]
    )
    results = [
        tf_mlm.span_corruption(tokens, s, vocab_size=500) for s in (seed, example_seeds, mask_seeds)
    ]
    for out in results[1:]:
        for a, b in zip(results[0], out):
            assert a.to_list() == b.to_list()


def test_an_int_seed_is_the_pair_s_0_and_runs_repeat():
    tokens, _ = random_batch(np.random.default_rng(2), [60, 61])
    a = tf_mlm.span_corruption(tokens, 7, vocab_size=100)
    b = tf_mlm.span_corruption(tokens, [7, 0], vocab_size=100)
    c = tf_mlm.span_corruption(tokens, [7, 1], vocab_size=100)
    assert a.inputs.to_list() == b.inputs.to_list()
    assert a.noise_mask.to_list() != c.noise_mask.to_list()


def test_no_noise_keeps_the_tokens():
    tokens, rows = random_batch(np.random.default_rng(4), [3, 0, 8])
    out = tf_mlm.span_corruption(tokens, [1, 1], noise_density=0.0, vocab_size=50)
    assert out.inputs.to_list() == [r.tolist() for r in rows]
    assert out.targets.to_list() == [[49], [], [49]]


def test_dense_and_list_inputs():
    dense = tf.constant([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]])
    a = tf_mlm.span_corruption(dense, [3, 4], vocab_size=100)
    b = tf_mlm.span_corruption(dense.numpy().tolist(), [3, 4], vocab_size=100)
    assert a.inputs.to_list() == b.inputs.to_list()


def test_in_a_tf_function_and_a_dataset():
    tokens, _ = random_batch(np.random.default_rng(5), [30, 40])
    eager = tf_mlm.span_corruption(tokens, [1, 2], vocab_size=100)
    graph = tf.function(lambda t: tf_mlm.span_corruption(t, [1, 2], vocab_size=100))(tokens)
    assert eager.inputs.to_list() == graph.inputs.to_list()
    ds = tf.data.Dataset.from_tensors(tokens).map(
        lambda t: tf_mlm.span_corruption(t, [1, 2], vocab_size=100).targets
    )
    assert next(iter(ds)).to_list() == eager.targets.to_list()


def test_errors():
    tokens, _ = random_batch(np.random.default_rng(6), [20])
    with pytest.raises(ValueError, match="exactly one"):
        tf_mlm.span_corruption(tokens, [1, 2])
    with pytest.raises(ValueError, match="exactly one"):
        tf_mlm.span_corruption(tokens, [1, 2], vocab_size=10, first_sentinel=9)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf_mlm.span_corruption(tokens, [1, 2], vocab_size=10, mean_noise_span_length=0.5)
    with pytest.raises(TypeError, match="int32 or int64"):
        tf_mlm.span_corruption(tf.ragged.constant([[1.0]]), [1, 2], vocab_size=10)
    with pytest.raises(ValueError, match="seed"):
        tf_mlm.span_corruption(tokens, tf.zeros([1, 2, 2, 2], tf.int64), vocab_size=10)


# --- tf_mlm.numpy.span_corruption ------------------------------------------------------------


@pytest.mark.parametrize(
    "seed",
    [7, (3, -4), np.array([[1, 2], [3, 4], [5, 6]]), "mask-seeds"],
)
def test_numpy_equals_tensorflow(seed):
    tokens, rows = random_batch(np.random.default_rng(8), [40, 0, 77], np.int64)
    if isinstance(seed, str):
        seed = random_seeds(np.random.default_rng(9), 3)
    kwargs = dict(noise_density=0.3, mean_noise_span_length=2.0, vocab_size=1000, random_roll=True)
    tf_seed = list(seed) if isinstance(seed, tuple) else seed
    expected = tf_mlm.span_corruption(tokens, tf_seed, **kwargs)
    values, splits = tokens.values.numpy(), tokens.row_splits.numpy()
    got = mlm.span_corruption(values, splits, seed=seed, **kwargs)
    np.testing.assert_array_equal(got.inputs, expected.inputs.values.numpy())
    np.testing.assert_array_equal(got.inputs_row_splits, expected.inputs.row_splits.numpy())
    np.testing.assert_array_equal(got.targets, expected.targets.values.numpy())
    np.testing.assert_array_equal(got.targets_row_splits, expected.targets.row_splits.numpy())
    np.testing.assert_array_equal(got.noise_mask, expected.noise_mask.values.numpy())
    assert got.inputs.dtype == np.int64


def test_numpy_seed_none_draws_fresh_masks():
    values, splits = np.arange(2, 402), np.array([0, 400])
    a = mlm.span_corruption(values, splits, vocab_size=1000)
    b = mlm.span_corruption(values, splits, vocab_size=1000)
    assert not np.array_equal(a.noise_mask, b.noise_mask)
    assert a.noise_mask.sum() == b.noise_mask.sum() == 60


def test_numpy_errors():
    with pytest.raises(ValueError, match="exactly one"):
        mlm.span_corruption(np.arange(5), np.array([0, 5]), seed=1)
    with pytest.raises(ValueError, match="seed"):
        mlm.span_corruption(
            np.arange(5), np.array([0, 5]), seed=np.zeros((2, 2), np.int64), vocab_size=9
        )
    with pytest.raises(TypeError, match="must hold integers"):
        mlm.span_corruption(np.arange(5), np.array([0, 5]), seed=np.zeros((1, 2)), vocab_size=9)


def test_sentinels_below_int64s_range_are_an_error_not_a_wrap():
    values, splits = np.arange(10, dtype=np.int64), np.array([0, 10])
    seeds = np.zeros((1, 2, 2), np.int64)
    with pytest.raises(ValueError, match="do not fit in the ids' dtype"):
        _core.span_corruption(values, splits, seeds, 0.3, 1.0, False, -(2**63) + 1)
    ops = _library.ops()
    with pytest.raises(tf.errors.InvalidArgumentError, match="do not fit in the ids' dtype"):
        ops.tfmlm_span_corruption(
            values, splits, seeds, 0.3, 1.0, False, tf.constant(-(2**63) + 1, tf.int64)
        )


def test_stateless_split_is_bounded():
    seeds = np.zeros((1, 2), np.int64)
    with pytest.raises(ValueError, match="num must be in"):
        _core.stateless_split(seeds, 2**24 + 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num must be at most 2\\*\\*24"):
        _library.ops().tfmlm_stateless_split(seeds, num=2**24 + 1)
    # and equal to TensorFlow's split where it runs
    got = _library.ops().tfmlm_stateless_split(np.array([[7, -3]], np.int64), num=3)
    want = tf.random.experimental.stateless_split(tf.constant([7, -3], tf.int64), 3)
    assert got.numpy()[0].tolist() == want.numpy().tolist()
    assert (
        _core.stateless_split(np.array([[7, -3]], np.int64), 3)[0].tolist() == want.numpy().tolist()
    )


def test_a_density_float32_rounds_to_zero_still_makes_one_noise_token():
    # t5 tells 0 from a tiny density with the Python float: the latter's
    # count rounds to 0 and is clamped up to one noise token.
    rows = [list(range(1, 11)), list(range(20, 26))]
    got = tf_mlm.span_corruption(tf.ragged.constant(rows), [1, 2], noise_density=1e-50,
                                 vocab_size=100)  # fmt: skip
    assert got.noise_mask.row_lengths().numpy().tolist() == [10, 6]
    assert tf.reduce_sum(tf.cast(got.noise_mask, tf.int32), axis=1).numpy().tolist() == [1, 1]
    values = np.concatenate([np.array(r) for r in rows])
    np_got = mlm.span_corruption(values, np.array([0, 10, 16]), seed=(1, 2),
                                 noise_density=1e-50, vocab_size=100)  # fmt: skip
    assert int(np.sum(np_got.noise_mask)) == 2
    zero = tf_mlm.span_corruption(tf.ragged.constant(rows), [1, 2], noise_density=0.0,
                                  vocab_size=100)  # fmt: skip
    assert not tf.reduce_any(zero.noise_mask.flat_values)
