"""Bad input gets a clear error naming the argument, never a crash."""

import numpy as np
import pytest
import tensorflow as tf

import tf_mlm
from tf_mlm._tf import library as _library

IDS = tf.ragged.constant([[1, 2, 3], [4]], tf.int64)
SEL = tf_mlm.RandomItemSelector(5, 0.5)
CHOOSER = tf_mlm.MaskValuesChooser(10, 3)


def test_rates_over_one_fail_when_run():
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask_token_rate \\+ random"):
        tf_mlm.mask_language_model(IDS, SEL, tf_mlm.MaskValuesChooser(10, 3, 0.8, 0.3))
    fn = tf.function(
        lambda x: tf_mlm.mask_language_model(x, SEL, tf_mlm.MaskValuesChooser(10, 3, 0.9, 0.2))
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be <= 1"):
        fn(IDS)


@pytest.mark.parametrize(
    "make",
    [
        lambda: tf_mlm.RandomItemSelector(5, None),
        lambda: tf_mlm.MaskValuesChooser(10, 3, None, 0.1),
        lambda: tf_mlm.MaskValuesChooser(10, 3, 0.1, None),
        lambda: tf_mlm.RandomItemSelector(5, 0.1, selection_mode="sometimes"),
    ],
)
def test_none_rates_and_bad_modes_are_value_errors(make):
    with pytest.raises(ValueError):
        make()


def test_wrong_selector_or_chooser_type():
    with pytest.raises(ValueError, match="item_selector"):
        tf_mlm.mask_language_model(IDS, object(), CHOOSER)
    with pytest.raises(ValueError, match="mask_values_chooser"):
        tf_mlm.mask_language_model(IDS, SEL, "chooser")


@pytest.mark.parametrize(
    "ids,error,match",
    [
        (tf.constant([1, 2, 3]), ValueError, "rank >= 2"),
        ([1, 2, 3], ValueError, "rank >= 2"),
        (tf.ragged.constant([[1.0, 2.0]]), TypeError, "int32 or int64"),
        (tf.constant([["a", "b"]]), TypeError, "int32 or int64"),
        (
            tf.RaggedTensor.from_row_splits(tf.zeros([4, 2], tf.int64), [0, 1, 4]),
            ValueError,
            "flat_values of rank 1",
        ),
    ],
)
def test_bad_input_ids(ids, error, match):
    with pytest.raises(error, match=match):
        tf_mlm.mask_language_model(ids, SEL, CHOOSER)


@pytest.mark.parametrize("axis", [0, 2, 5, "1", 1.0])
def test_axis_out_of_range(axis):
    with pytest.raises((ValueError, TypeError), match="axis"):
        tf_mlm.mask_language_model(IDS, SEL, CHOOSER, axis=axis)


@pytest.mark.parametrize(
    "chooser,match",
    [
        (tf_mlm.MaskValuesChooser(10, 2**31), "mask_token must fit in ids of 32-bit"),
        (tf_mlm.MaskValuesChooser(10, -(2**31) - 1), "mask_token"),
        (tf_mlm.MaskValuesChooser(0, 0), "vocab_size"),
        (tf_mlm.MaskValuesChooser(10, 3, -0.1, 0.1), "mask_token_rate"),
        (tf_mlm.MaskValuesChooser(10, 3, 0.1, float("nan")), "random_token_rate"),
    ],
)
def test_bad_chooser_values_fail_in_the_kernel(chooser, match):
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        tf_mlm.mask_language_model(tf.cast(IDS, tf.int32), SEL, chooser)


@pytest.mark.parametrize(
    "selector,match",
    [
        (tf_mlm.RandomItemSelector(-1, 0.5), "max_selections"),
        (tf_mlm.RandomItemSelector(3, float("inf")), "selection_rate"),
        (tf_mlm.RandomItemSelector(3, -0.5), "selection_rate"),
    ],
)
def test_bad_selector_values_fail_in_the_kernel(selector, match):
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        tf_mlm.mask_language_model(IDS, selector, CHOOSER)


def test_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        tf_mlm.mask_language_model(IDS, SEL, CHOOSER, seed=[1, 2, 3])
    with pytest.raises(TypeError, match="seed"):
        tf_mlm.mask_language_model(IDS, SEL, CHOOSER, seed=[1.0, 2.0])


SCALARS = dict(
    unselectable_ids=tf.constant([0], tf.int64),
    max_selections_per_row=5,
    selection_rate=0.5,
    vocab_size=10,
    mask_token=3,
    mask_token_rate=0.8,
    random_token_rate=0.1,
    seed=tf.constant([1, 2], tf.int64),
    excluded_ids=tf.zeros([0], tf.int64),
    alias_prob=tf.zeros([0]),
    alias_index=tf.zeros([0], tf.int64),
)


@pytest.mark.parametrize(
    "splits,match",
    [
        ([[0, 2, 1]], "non-decreasing"),
        ([[1, 3]], "start with 0"),
        ([[0, 2]], "must end with"),
        ([[0, 5]], "must end with"),
        ([[]], "must not be empty"),
        ([[0, 1, 3], [0, 1]], "must end with"),
        ([[0, 3], [0, 2, 1, 3]], "non-decreasing"),
    ],
)
def test_raw_op_rejects_malformed_row_splits(splits, match):
    ops = _library.ops()
    values = tf.constant([1, 2, 3], tf.int64)
    row_splits = [tf.constant(s, tf.int64) for s in splits]
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        ops.tfmlm_mask_language_model(values, row_splits, **SCALARS)
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        ops.tfmlm_selectable(values, row_splits, SCALARS["unselectable_ids"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        ops.tfmlm_gather_masked(values, row_splits, tf.zeros([3], tf.bool), mask_level=len(splits))


def test_raw_ops_reject_bad_shapes_and_sizes():
    ops = _library.ops()
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="seed"):
        ops.tfmlm_select_items(
            tf.constant([True]),
            tf.constant([0, 1], tf.int64),
            1,
            0.5,
            tf.constant([1, 2, 3], tf.int64),
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match="row_splits"):
        ops.tfmlm_select_items(
            tf.constant([True, False]),
            tf.constant([0, 1], tf.int64),
            1,
            0.5,
            tf.constant([1, 2], tf.int64),
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match="selected"):
        ops.tfmlm_gather_masked(
            tf.constant([1, 2], tf.int64),
            [tf.constant([0, 2], tf.int64)],
            tf.constant([True]),
            mask_level=1,
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside the row"):
        ops.tfmlm_scatter_masked(
            tf.constant([1, 2], tf.int64),
            [tf.constant([0, 2], tf.int64)],
            tf.constant([2], tf.int64),
            tf.constant([0, 1], tf.int64),
            tf.constant([9], tf.int64),
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_to_select"):
        ops.tfmlm_select_first_n(tf.constant([True]), tf.constant([0, 1], tf.int64), -1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="axis"):
        ops.tfmlm_mask_language_model(
            tf.constant([1], tf.int64), [tf.constant([0, 1], tf.int64)], axis=2, **SCALARS
        )
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="unselectable_ids"):
        ops.tfmlm_mask_language_model(
            tf.constant([1], tf.int64),
            [tf.constant([0, 1], tf.int64)],
            **{**SCALARS, "unselectable_ids": tf.constant([[0]], tf.int64)},
        )


@pytest.mark.parametrize(
    "counts, match",
    [
        ([[1, 2]], "scalar or a vector"),  # rank 2
        ([1, 2, 3], "one count or one per row"),  # 3 counts for 2 rows
        ([1, -1], "num_to_select must be >= 0"),
    ],
)
def test_select_first_n_validates_its_counts(counts, match):
    op = _library.ops().tfmlm_select_first_n
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match=match):
        op(
            tf.constant([True, True, True]),
            tf.constant([0, 2, 3], tf.int64),
            tf.constant(counts, tf.int64),
        )
    # Accepted: one count, or one per row.
    for ok in (2, [2], [1, 0]):
        op(
            tf.constant([True, True, True]),
            tf.constant([0, 2, 3], tf.int64),
            tf.constant(ok, tf.int64),
        )


@pytest.mark.parametrize(
    "span_args, match",
    [
        (dict(p=0.0), "span p"),
        (dict(p=1.5), "span p"),
        (dict(p=float("nan")), "span p"),
        (dict(max_span_length=0), "max_span_length"),
        (dict(p=[0.2, 0.3]), "p"),  # not a scalar
        (dict(max_span_length=[3]), "max_span_length"),
        (dict(max_selections_per_row=-1), "max_selections_per_row"),
        (dict(axis=2), "axis"),
        (dict(seed=tf.constant([1], tf.int64)), "seed"),
        (dict(mask_token=2**40), "mask_token"),  # outside the int32 ids
    ],
)
@pytest.mark.parametrize("dense", [False, True])
def test_raw_span_ops_validate_every_input(span_args, match, dense):
    ops = _library.ops()
    op = ops.tfmlm_mask_spans_dense if dense else ops.tfmlm_mask_spans
    kwargs = {**SCALARS, "unselectable_ids": tf.constant([0], tf.int32)}
    kwargs.update({"p": 0.2, "max_span_length": 3, **span_args})
    if dense:
        kwargs["output_length"] = 4
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match=match):
        op(tf.constant([1, 2, 3], tf.int32), [tf.constant([0, 3], tf.int64)], **kwargs)
    # The same call with valid span arguments runs.
    kwargs.update(
        p=0.2,
        max_span_length=3,
        max_selections_per_row=5,
        axis=1,
        seed=SCALARS["seed"],
        mask_token=3,
    )
    op(tf.constant([1, 2, 3], tf.int32), [tf.constant([0, 3], tf.int64)], **kwargs)


REPLACEMENT = dict(
    vocab_size=tf.constant(5, tf.int64),
    ids=tf.constant([[3, 9], [0, 3]], tf.int64),
    weights=tf.constant([1.0, 5.0, 1.0, 2.0, 1.0]),
    weighted=True,
)


@pytest.mark.parametrize(
    "args, match",
    [
        (dict(vocab_size=tf.constant([5], tf.int64)), "vocab_size must be a scalar"),
        (dict(weights=tf.zeros([0])), "must not be empty"),
        (dict(weights=tf.constant([1.0, -1.0, 1.0, 1.0, 1.0])), "finite and >= 0"),
        (dict(weights=tf.constant([1.0, np.nan, 1.0, 1.0, 1.0])), "finite and >= 0"),
        # ids 0 and 3 weigh 0: inf * 0 stays non-finite, and the sum is 0
        (dict(weights=tf.constant([np.inf, 1.0, 1.0, 1.0, 1.0])), "finite and >= 0"),
        (dict(weights=tf.constant([1.0, 0.0, 0.0, 1.0, 0.0])), "positive, finite sum"),
        (dict(weighted=False), "weights must be empty unless weighted"),
    ],
)
def test_raw_replacement_tables_op_validates_every_input(args, match):
    op = _library.ops().tfmlm_build_replacement_tables
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        op(**{**REPLACEMENT, **args})
    # The same call with valid arguments runs: ids of any shape, normalised.
    t = op(**REPLACEMENT)
    assert t.excluded_ids.numpy().tolist() == []
    assert t.alias_prob.shape == [5] and t.alias_index.shape == [5]
    t = op(**dict(REPLACEMENT, weights=tf.zeros([0]), weighted=False))
    assert t.excluded_ids.numpy().tolist() == [0, 3]
    assert t.alias_prob.shape == [0] and t.alias_index.shape == [0]
    # Sizes are checked when masking: any vocab_size, any number of weights.
    t = op(**dict(REPLACEMENT, vocab_size=tf.constant(0, tf.int64), weights=tf.ones([2])))
    assert t.excluded_ids.shape == [0] and t.alias_prob.shape == [2]
