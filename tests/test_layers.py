"""tf_mlm.layers.MaskedLMMaskGenerator: contract, keras_hub parity, Keras
integration (config, serialization, tf.data, functional models), seeds."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

keras = pytest.importorskip("keras")
scipy_stats = pytest.importorskip("scipy.stats")

from tests import _stats  # noqa: E402
from tf_mlm.layers import MaskedLMMaskGenerator  # noqa: E402

try:
    import keras_hub
except ImportError:  # side-by-side tests need it
    keras_hub = None

needs_keras_hub = pytest.mark.skipif(keras_hub is None, reason="keras_hub is not installed")
tf_backend_only = pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="eager TF-path tests need KERAS_BACKEND=tensorflow",
)
OUT_KEYS = ("token_ids", "mask_positions", "mask_ids", "mask_weights")


def py(x):
    """An output as Python lists (from tensors, ragged tensors or lists)."""
    if isinstance(x, tf.RaggedTensor):
        return x.to_list()
    if isinstance(x, tf.Tensor) or (isinstance(x, np.ndarray) and x.dtype != object):
        return np.asarray(x).tolist()
    if isinstance(x, np.ndarray):
        return [py(r) for r in x]
    return x


def run_tf_data(layer, x):
    """The layer mapped over a one-element dataset (graph mode, TF kernels)."""
    return next(iter(tf.data.Dataset.from_tensors(x).map(layer)))


def run_tf_function(layer, x):
    return tf.function(layer)(x)


def make(**kwargs):
    args = dict(vocabulary_size=1000, mask_selection_rate=0.15, mask_token_id=103)
    args.update(kwargs)
    return MaskedLMMaskGenerator(**args)


def make_keras_hub(**kwargs):
    args = dict(vocabulary_size=1000, mask_selection_rate=0.15, mask_token_id=103)
    args.update(kwargs)
    return keras_hub.layers.MaskedLMMaskGenerator(**args)


def check_contract(rows, out, layer):
    """Checks one batched output against its input rows (Python lists)."""
    length = layer.mask_selection_length
    unselectable = set(layer.unselectable_token_ids)
    token_ids = py(out["token_ids"])
    positions, ids, weights = (py(out[k]) for k in OUT_KEYS[1:])
    assert len(token_ids) == len(rows) == len(positions) == len(ids) == len(weights)
    for row, new, pos, orig, w in zip(rows, token_ids, positions, ids, weights):
        assert len(new) == len(row)
        selectable = [i for i, t in enumerate(row) if t not in unselectable]
        want = math.ceil(np.float32(len(selectable)) * np.float32(layer.mask_selection_rate))
        count = int(sum(w))
        assert count == (want if length is None else min(want, length))
        if length is None:
            assert len(pos) == len(orig) == len(w) == count
        else:
            assert len(pos) == len(orig) == len(w) == length
            assert pos[count:] == [0] * (length - count)
            assert orig[count:] == [0] * (length - count)
        assert w == [1.0] * count + [0.0] * (len(w) - count)
        real = pos[:count]
        assert real == sorted(set(real))
        assert set(real) <= set(selectable)
        assert orig[:count] == [row[p] for p in real]
        for i, (a, b) in enumerate(zip(row, new)):
            if i not in real:
                assert a == b
            else:
                assert 0 <= b < layer.vocabulary_size


# ----------------------------------------------------------------- basics

BATCH = [[1, 4, 5, 6, 2, 7, 8, 2, 0, 0], [1, 4, 5, 2, 6, 7, 8, 9, 2, 0]]


@tf_backend_only
@pytest.mark.parametrize("mode", ["eager", "tf.function", "tf.data"])
def test_docs_example_basic_usage(mode):
    # keras_hub's first example: a single sequence and a ragged batch.
    masker = MaskedLMMaskGenerator(
        vocabulary_size=10, mask_selection_rate=0.2, mask_token_id=0, mask_selection_length=5
    )
    run = {
        "eager": lambda x: masker(x),
        "tf.function": lambda x: run_tf_function(masker, x),
        "tf.data": lambda x: run_tf_data(masker, x),
    }[mode]
    single = [1, 2, 3, 4, 5]
    out = run(single if mode == "eager" else tf.constant(single))
    assert out["token_ids"].shape == [5]
    for key in OUT_KEYS[1:]:
        assert out[key].shape == [5]
    check_contract([single], {k: [py(v)] for k, v in out.items()}, masker)

    ragged = [[1, 2], [1, 2, 3, 4]]
    out = run(ragged if mode == "eager" else tf.ragged.constant(ragged))
    assert isinstance(out["token_ids"], tf.RaggedTensor)
    for key in OUT_KEYS[1:]:
        assert out[key].shape == [2, 5]
    check_contract(ragged, out, masker)


@tf_backend_only
@pytest.mark.parametrize("mode", ["eager", "tf.data"])
def test_docs_example_special_tokens(mode):
    # keras_hub's second example: [CLS]/[SEP]/padding are never selected.
    pad_id, cls_id, sep_id, mask_id = 0, 1, 2, 3
    masker = MaskedLMMaskGenerator(
        vocabulary_size=10,
        mask_selection_rate=0.2,
        mask_selection_length=5,
        mask_token_id=mask_id,
        unselectable_token_ids=[cls_id, sep_id, pad_id],
    )
    for _ in range(20):
        out = masker(BATCH) if mode == "eager" else run_tf_data(masker, tf.constant(BATCH))
        assert out["token_ids"].shape == [2, 10]
        assert out["mask_positions"].shape == [2, 5]
        check_contract(BATCH, out, masker)


@tf_backend_only
@pytest.mark.parametrize("length", [None, 3])
def test_input_kinds(length):
    masker = make(
        mask_selection_length=length, unselectable_token_ids=[0, 1, 2], mask_selection_rate=0.5
    )
    ragged_rows = [[1, 11, 12, 13, 2], [1, 14, 2], [], [15]]
    cases = [
        (BATCH, tf.Tensor, "int32"),
        (np.array(BATCH, np.int64), tf.Tensor, "int64"),
        (np.array(BATCH, np.int32), tf.Tensor, "int32"),
        (tf.constant(BATCH, tf.int64), tf.Tensor, "int64"),
        (ragged_rows, tf.RaggedTensor, "int32"),
        (np.array([np.array(r) for r in ragged_rows], dtype=object), tf.RaggedTensor, "int32"),
        (tf.ragged.constant(ragged_rows, tf.int64), tf.RaggedTensor, "int64"),
    ]
    for x, kind, dtype in cases:
        out = masker(x)
        assert isinstance(out["token_ids"], kind), type(x)
        assert out["token_ids"].dtype.name == dtype
        assert out["mask_ids"].dtype.name == dtype
        assert out["mask_weights"].dtype.name == "float32"
        rows = [[int(t) for t in r] for r in py(x)]
        check_contract(rows, out, masker)
        if length is None:
            assert isinstance(out["mask_positions"], tf.RaggedTensor)
        else:
            assert out["mask_positions"].shape == [len(rows), length]


@tf_backend_only
def test_ragged_int32_row_splits_give_int32_positions():
    x = tf.RaggedTensor.from_row_splits(
        tf.constant([5, 6, 7, 8, 9], tf.int64), tf.constant([0, 2, 5], tf.int32)
    )
    for length in (None, 4):
        out = make(mask_selection_length=length, mask_selection_rate=1.0)(x)
        assert out["mask_positions"].dtype == tf.int32
        assert out["token_ids"].row_splits.dtype == tf.int32


@tf_backend_only
@pytest.mark.parametrize("length", [None, 4])
def test_unbatched_outputs_are_rank_1(length):
    masker = make(mask_selection_length=length, mask_selection_rate=0.5)
    for x in ([5, 6, 7, 8, 9, 10], np.arange(5, 11), tf.range(5, 11)):
        out = masker(x)
        for key in OUT_KEYS:
            assert isinstance(out[key], tf.Tensor) and out[key].shape.rank == 1
        assert out["mask_positions"].shape == [3 if length is None else 4]


@tf_backend_only
def test_no_selectable_tokens_and_empty_rows():
    masker = make(mask_selection_length=3, unselectable_token_ids=[0, 1, 2])
    out = masker([[0, 1, 2, 0], [1, 2, 0, 0]])
    assert py(out["token_ids"]) == [[0, 1, 2, 0], [1, 2, 0, 0]]
    assert py(out["mask_weights"]) == [[0.0] * 3] * 2
    out = make()(tf.ragged.constant([[], [5]], tf.int32))
    assert py(out["mask_positions"]) == [[], [0]]
    out = make(mask_selection_length=2)(np.zeros([0, 7], np.int32))
    assert out["token_ids"].shape == [0, 7] and out["mask_positions"].shape == [0, 2]


@tf_backend_only
def test_selection_length_caps_and_pads():
    masker = make(mask_selection_rate=1.0, mask_selection_length=4)
    out = masker([[5] * 10, [6, 7, 0, 0, 0, 0, 0, 0, 0, 0]])
    assert py(out["mask_weights"]) == [[1.0] * 4, [1.0, 1.0, 0.0, 0.0]]
    assert py(out["mask_ids"])[1] == [6, 7, 0, 0]
    assert py(out["mask_positions"])[1] == [0, 1, 0, 0]


def test_padding_is_written_by_the_kernel():
    masker = make(mask_selection_length=8)
    graph = tf.function(masker).get_concrete_function(tf.TensorSpec([None, None], tf.int32)).graph
    op_types = {op.type for op in graph.get_operations()}
    assert "TFMLM>MaskLanguageModelDense" in op_types
    assert not {t for t in op_types if "ToTensor" in t or "RaggedTensorTo" in t}


# ----------------------------------------------------------- dtype policy


@tf_backend_only
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize("length", [None, 3])
def test_mask_weights_in_compute_dtype(dtype, length):
    masker = make(mask_selection_length=length, mask_selection_rate=0.5, dtype=dtype)
    for out in (masker([[5, 6, 7, 8]]), run_tf_data(masker, tf.constant([[5, 6, 7, 8]]))):
        assert out["mask_weights"].dtype.name == dtype
        assert float(tf.reduce_sum(tf.cast(out["mask_weights"], tf.float32))) == 2.0


@tf_backend_only
def test_mixed_precision_policy():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        masker = make(mask_selection_length=3)
        assert masker([[5, 6, 7]])["mask_weights"].dtype == tf.float16
    finally:
        keras.config.set_dtype_policy(previous)


# --------------------------------------------------------------- errors


def test_mask_token_id_out_of_vocabulary():
    with pytest.raises(
        ValueError,
        match=r"^Mask token id should be .*mask_token_id=10 "
        r"\(vocabulary_size=10\)",
    ):
        MaskedLMMaskGenerator(vocabulary_size=10, mask_selection_rate=0.2, mask_token_id=10)
    # keras_hub checks only the upper bound; a negative id is written as given.
    masker = MaskedLMMaskGenerator(
        vocabulary_size=10,
        mask_selection_rate=1.0,
        mask_token_id=-1,
        mask_token_rate=1.0,
        random_token_rate=0.0,
    )
    assert py(masker([[4, 5]])["token_ids"]) == [[-1, -1]]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(vocabulary_size=0), ValueError, "vocabulary_size"),
        (dict(vocabulary_size=10.5), ValueError, "vocabulary_size"),
        (dict(vocabulary_size=None), TypeError, "vocabulary_size"),
        (dict(mask_token_id=None), TypeError, "mask_token_id"),
        (dict(mask_token_id=2.5), ValueError, "mask_token_id"),
        (dict(mask_token_id="3"), TypeError, "mask_token_id"),
        (dict(mask_selection_rate=-0.5), ValueError, "mask_selection_rate"),
        (dict(mask_selection_rate=float("inf")), ValueError, "mask_selection_rate"),
        (dict(mask_selection_rate=None), TypeError, "mask_selection_rate"),
        (dict(mask_selection_rate=float("nan")), ValueError, "mask_selection_rate"),
        (dict(mask_token_rate=-0.1), ValueError, "mask_token_rate"),
        (dict(random_token_rate=2), ValueError, "random_token_rate"),
        (dict(mask_token_rate=0.8, random_token_rate=0.3), ValueError, "<= 1"),
        (dict(mask_selection_length=-1), ValueError, "mask_selection_length"),
        (dict(mask_selection_length=2.5), ValueError, "mask_selection_length"),
        (dict(mask_selection_length="2"), TypeError, "mask_selection_length"),
        (dict(unselectable_token_ids=5), TypeError, "unselectable_token_ids"),
        (dict(unselectable_token_ids=["a"]), TypeError, "unselectable_token_ids"),
        (dict(seed="x"), TypeError, "seed"),
        (dict(seed=[1, 2, 3]), TypeError, "seed"),
        (dict(seed=2**64), ValueError, "seed"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    args = dict(vocabulary_size=100, mask_selection_rate=0.2, mask_token_id=3)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        MaskedLMMaskGenerator(**args)


@tf_backend_only
@pytest.mark.parametrize(
    "x, error, match",
    [
        (np.ones([2, 3], np.float32), TypeError, "int32 or int64"),
        (tf.ones([2, 2, 2], tf.int32), ValueError, "rank"),
        (tf.ragged.constant([[[1], [2, 3]]]), ValueError, r"\[batch, \(tokens\)\]"),
        ([["a", "b"]], TypeError, "integer"),
        ("hello", TypeError, "token ids"),
        (5, ValueError, "rank"),
    ],
)
def test_invalid_inputs(x, error, match):
    with pytest.raises(error, match=match):
        make()(x)


# -------------------------------------------------- config, serialization


def test_config_round_trip():
    masker = make(
        mask_selection_length=7,
        unselectable_token_ids=[0, 101, 102],
        mask_token_rate=0.7,
        random_token_rate=0.2,
        name="masker",
    )
    config = masker.get_config()
    assert "seed" not in config
    clone = MaskedLMMaskGenerator.from_config(config)
    assert clone.get_config() == config
    assert json.loads(json.dumps(config)) == config
    seeded = make(seed=(3, 4))
    assert seeded.get_config()["seed"] == [3, 4]
    assert (
        MaskedLMMaskGenerator.from_config(seeded.get_config()).get_config() == seeded.get_config()
    )


@needs_keras_hub
def test_config_keys_match_keras_hub_and_load_either_way():
    ours = make(mask_selection_length=5).get_config()
    theirs = make_keras_hub(mask_selection_length=5).get_config()
    assert set(ours) == set(theirs)
    for key in (
        "vocabulary_size",
        "mask_selection_rate",
        "mask_selection_length",
        "unselectable_token_ids",
        "mask_token_id",
        "mask_token_rate",
        "random_token_rate",
    ):
        assert ours[key] == theirs[key]
    # A keras_hub config builds our layer, and (without a seed) vice versa.
    assert MaskedLMMaskGenerator.from_config(theirs).mask_selection_length == 5
    assert keras_hub.layers.MaskedLMMaskGenerator.from_config(ours).mask_token_id == 103


def test_keras_serialization_round_trip():
    masker = make(mask_selection_length=5, seed=11)
    blob = keras.saving.serialize_keras_object(masker)
    assert blob["registered_name"] == "tf_mlm>MaskedLMMaskGenerator"
    clone = keras.saving.deserialize_keras_object(json.loads(json.dumps(blob)))
    assert type(clone) is MaskedLMMaskGenerator
    assert clone.get_config() == masker.get_config()
    assert (
        keras.saving.get_registered_object("tf_mlm>MaskedLMMaskGenerator") is MaskedLMMaskGenerator
    )
    x = [[5, 6, 7, 8, 9, 10, 11]]
    assert py(clone(x)["token_ids"]) == py(masker(x)["token_ids"])


# ------------------------------------------------------ tf.data and models


@pytest.mark.parametrize("length", [None, 6])
def test_tf_data_pipeline(length):
    masker = make(
        mask_selection_length=length, unselectable_token_ids=[0, 1, 2], mask_selection_rate=0.3
    )
    rows = [[1] + list(range(10, 10 + n)) + [2] for n in range(1, 30)]
    dense = tf.ragged.constant(rows).to_tensor()
    ds = (
        tf.data.Dataset.from_tensor_slices(dense)
        .batch(8)
        .map(masker, num_parallel_calls=tf.data.AUTOTUNE)
    )
    seen = 0
    for batch in ds:
        n = batch["token_ids"].shape[0]
        check_contract(py(dense[seen : seen + n]), batch, masker)
        seen += n
    assert seen == len(rows)
    # Ragged batches, and per-example masking before batching.
    ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant(rows)).batch(8).map(masker)
    batch = next(iter(ds))
    check_contract(rows[:8], batch, masker)
    ds = tf.data.Dataset.from_tensor_slices(dense).map(masker)
    ds = ds.batch(4) if length else ds.ragged_batch(4)
    batch = next(iter(ds))
    check_contract(py(dense[:4]), batch, masker)


@tf_backend_only
def test_functional_model(tmp_path):
    masker = make(mask_selection_length=4, unselectable_token_ids=[0], seed=5)
    inputs = keras.Input(shape=(None,), dtype="int32")
    model = keras.Model(inputs, masker(inputs))
    x = np.array([[5, 6, 7, 8, 9, 0], [10, 11, 12, 0, 0, 0]], np.int32)
    eager = model(x)
    predicted = model.predict(x, verbose=0)
    for key in OUT_KEYS:
        assert np.array_equal(py(eager[key]), predicted[key])
    check_contract(x.tolist(), predicted, masker)
    path = str(tmp_path / "masker.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    again = loaded.predict(x, verbose=0)
    for key in OUT_KEYS:  # the stateless seed travels with the model
        assert np.array_equal(again[key], predicted[key])


# ------------------------------------------------------------------ seeds


@tf_backend_only
@pytest.mark.parametrize("length", [None, 10])
def test_stateless_seed_is_reproducible_everywhere(length):
    x = np.arange(5, 69, dtype=np.int32).reshape([2, 32])
    masker = make(mask_selection_length=length, seed=1234)
    runs = [
        masker(x),
        masker(x),
        run_tf_function(masker, tf.constant(x)),
        run_tf_data(masker, tf.constant(x)),
        make(mask_selection_length=length, seed=(1234, 0))(x),
    ]
    for out in runs[1:]:
        for key in OUT_KEYS:
            assert py(out[key]) == py(runs[0][key])
    other = make(mask_selection_length=length, seed=1235)(x)
    assert py(other["mask_positions"]) != py(runs[0]["mask_positions"])


def test_call_time_seed_in_tf_data():
    masker = make(mask_selection_length=10)
    x = tf.constant(np.arange(5, 69, dtype=np.int32).reshape([2, 32]))
    ds = (
        tf.data.Dataset.from_tensors(x)
        .repeat(3)
        .enumerate()
        .map(lambda i, t: masker(t, seed=tf.stack([tf.constant(99, tf.int64), i])))
    )
    first = [py(e["mask_positions"]) for e in ds]
    second = [py(e["mask_positions"]) for e in ds]
    assert first == second  # reproducible
    assert len({json.dumps(p) for p in first}) == 3  # but different per element


@tf_backend_only
def test_stateful_by_default_honours_set_seed():
    x = np.arange(5, 69, dtype=np.int32).reshape([2, 32])
    masker = make(mask_selection_length=10)
    tf.random.set_seed(3)
    a = py(masker(x)["mask_positions"])
    b = py(masker(x)["mask_positions"])
    tf.random.set_seed(3)
    c = py(masker(x)["mask_positions"])
    assert a != b and a == c


@tf_backend_only
@pytest.mark.parametrize("length", [None, 5])
def test_numpy_path_equals_tf_path_for_a_seed(length):
    masker = make(mask_selection_length=length, seed=(8, 9), unselectable_token_ids=[0, 1])
    for x in (BATCH, [[5, 6, 7, 8, 9, 10, 1], [11, 12]], [5, 6, 7, 8, 9, 10, 11, 12]):
        tf_out = masker(x)
        np_out = masker._call_numpy(x, None)
        for key in OUT_KEYS:
            assert py(tf_out[key]) == py(np_out[key]), key
            if not isinstance(np_out[key], list):
                assert np_out[key].dtype == tf_out[key].dtype


# ---------------------------------------------- side by side with keras_hub


def _side_by_side_inputs():
    return {
        "dense-int32": tf.constant(BATCH, tf.int32),
        "dense-int64": tf.constant(BATCH, tf.int64),
        "ragged-int32": tf.ragged.constant([[1, 4, 5, 2], [1, 6, 7, 8, 9, 2], []], tf.int32),
        "ragged-int64-splits32": tf.RaggedTensor.from_row_splits(
            tf.constant([1, 4, 5, 2, 1, 6, 7, 2], tf.int64), tf.constant([0, 4, 8], tf.int32)
        ),
        "unbatched": tf.constant([1, 4, 5, 6, 7, 2, 0, 0], tf.int32),
    }


def _static_specs(layer, x):
    """Output specs as traced: by tf.function and by tf.data (static shapes)."""
    input_spec = tf.type_spec_from_value(x)
    if isinstance(input_spec, tf.TensorSpec):  # unknown batch size, like a pipeline
        input_spec = tf.TensorSpec([None] * x.shape.rank, x.dtype)
    traced = tf.function(layer).get_concrete_function(input_spec).structured_outputs
    from_function = {
        k: tf.type_spec_from_value(v)
        if isinstance(v, tf.RaggedTensor)
        else tf.TensorSpec(v.shape, v.dtype)
        for k, v in traced.items()
    }
    from_data = tf.data.Dataset.from_tensors(x).map(layer).element_spec
    return from_function, from_data


@needs_keras_hub
@pytest.mark.parametrize("length", [None, 6])
@pytest.mark.parametrize("name", sorted(_side_by_side_inputs()))
def test_structure_shapes_dtypes_match_keras_hub(name, length):
    x = _side_by_side_inputs()[name]
    kwargs = dict(
        mask_selection_length=length, unselectable_token_ids=[0, 1, 2], mask_selection_rate=0.4
    )
    for a, b in zip(_static_specs(make(**kwargs), x), _static_specs(make_keras_hub(**kwargs), x)):
        assert set(a) == set(b) == set(OUT_KEYS)
        for key in OUT_KEYS:
            assert type(a[key]) is type(b[key]), key
            assert a[key].dtype == b[key].dtype, key
            if isinstance(a[key], tf.RaggedTensorSpec):
                assert a[key].row_splits_dtype == b[key].row_splits_dtype
                assert a[key].ragged_rank == b[key].ragged_rank
            assert a[key].shape == b[key].shape, key


@needs_keras_hub
@pytest.mark.parametrize(
    "rates",
    [
        dict(mask_selection_rate=1.0, mask_token_rate=1.0, random_token_rate=0.0),
        dict(mask_selection_rate=1.0, mask_token_rate=0.0, random_token_rate=0.0),
        dict(mask_selection_rate=0.0, mask_token_rate=0.8, random_token_rate=0.1),
    ],
)
@pytest.mark.parametrize("length", [None, 8])
@pytest.mark.parametrize("name", sorted(_side_by_side_inputs()))
def test_equal_outputs_without_randomness(name, length, rates):
    x = _side_by_side_inputs()[name]
    kwargs = dict(mask_selection_length=length, unselectable_token_ids=[0, 1, 2], **rates)
    a, b = run_tf_data(make(**kwargs), x), run_tf_data(make_keras_hub(**kwargs), x)
    for key in OUT_KEYS:
        assert type(a[key]) is type(b[key]), key
        assert py(a[key]) == py(b[key]), key


@needs_keras_hub
@tf_backend_only
@pytest.mark.parametrize("length", [None, 8])
def test_equal_values_eagerly_without_randomness(length):
    # keras_hub's eager calls run its pure-Python path (int32, lists for
    # ragged data); values agree with ours.
    kwargs = dict(
        mask_selection_length=length,
        unselectable_token_ids=[0, 1, 2],
        mask_selection_rate=1.0,
        mask_token_rate=1.0,
        random_token_rate=0.0,
    )
    ours, theirs = make(**kwargs), make_keras_hub(**kwargs)
    for x in (BATCH, [[1, 4, 5, 2], [1, 6, 7, 8, 9, 2]], [1, 4, 5, 6, 2]):
        a, b = ours(x), theirs(x)
        for key in OUT_KEYS:
            assert py(a[key]) == py(b[key]), key


# Distributions: both layers on the same batch, TF paths, fixed seeds. Each
# test also shows that its bound rejects a plausible wrong law.

P_MIN = 1e-4


def _chi2_gof(observed, expected_probs):
    observed = np.asarray(observed, np.float64)
    expected = np.asarray(expected_probs, np.float64) * observed.sum()
    return scipy_stats.chisquare(observed, expected).pvalue


def _chi2_same(a, b):
    table = np.array([a, b], np.float64)
    table = table[:, table.sum(axis=0) > 0]
    return scipy_stats.chi2_contingency(table)[1]


@needs_keras_hub
def test_selection_counts_equal_keras_hub_per_row():
    # The count per row is deterministic in both: ceil(selectable * rate),
    # capped at mask_selection_length.
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 60, size=300)
    rows = [list(rng.integers(0, 8, size=n)) for n in lengths]  # 0 is unselectable
    x = tf.ragged.constant(rows, tf.int32)
    for length in (None, 5):
        kwargs = dict(mask_selection_rate=0.15, mask_selection_length=length)
        tf.random.set_seed(1)
        a = run_tf_data(make(**kwargs), x)
        b = run_tf_data(make_keras_hub(**kwargs), x)

        def count(out):
            return np.asarray(tf.reduce_sum(tf.cast(out["mask_weights"], tf.int32), axis=-1))

        assert np.array_equal(count(a), count(b))
        check_contract(rows, a, make(**kwargs))


@needs_keras_hub
def test_selected_positions_are_uniform_like_keras_hub():
    width, rows = 20, 3000
    x = tf.constant(np.tile(np.arange(5, 5 + width, dtype=np.int32), [rows, 1]))
    tf.random.set_seed(2)
    counts = []
    for layer in (make(mask_selection_rate=0.15), make_keras_hub(mask_selection_rate=0.15)):
        positions = run_tf_data(layer, x)["mask_positions"].flat_values.numpy()
        assert positions.size == rows * 3
        counts.append(np.bincount(positions, minlength=width))
    uniform = np.full(width, 1.0 / width)
    assert _chi2_gof(counts[0], uniform) > P_MIN
    assert _chi2_gof(counts[1], uniform) > P_MIN
    assert _chi2_same(counts[0], counts[1]) > P_MIN
    # Discrimination: a law 10% heavier on the first half is rejected.
    skewed = np.r_[np.full(10, 1.1), np.full(10, 0.9)] / width
    assert _chi2_gof(counts[0], skewed) < P_MIN


@needs_keras_hub
@pytest.mark.parametrize("length", [None, 30])
def test_replacement_outcomes_match_keras_hub(length):
    vocab, rows, width = 1000, 400, 30
    rng = np.random.default_rng(3)
    x = tf.constant(rng.integers(200, vocab, size=[rows, width]), tf.int32)
    kwargs = dict(vocabulary_size=vocab, mask_selection_rate=1.0, mask_selection_length=length)
    tf.random.set_seed(4)
    outcomes = []
    for layer in (make(**kwargs), make_keras_hub(**kwargs)):
        out = run_tf_data(layer, x)
        new = np.asarray(py(out["token_ids"]))
        orig = np.asarray(py(x))
        masked = np.sum(new == 103)
        kept = np.sum(new == orig)
        outcomes.append([masked, kept, new.size - masked - kept])
    expected = [0.8 + 0.1 / vocab, 0.1 + 0.1 / vocab, 0.1 * (vocab - 2) / vocab]
    assert _chi2_gof(outcomes[0], expected) > P_MIN
    assert _chi2_gof(outcomes[1], expected) > P_MIN
    assert _chi2_same(outcomes[0], outcomes[1]) > P_MIN
    assert _chi2_gof(outcomes[0], [0.75, 0.125, 0.125]) < P_MIN


@needs_keras_hub
def test_random_replacements_are_uniform_over_the_vocabulary():
    vocab = 50
    x = tf.constant(np.full([400, 25], 7, np.int32))
    kwargs = dict(
        vocabulary_size=vocab,
        mask_token_id=3,
        mask_selection_rate=1.0,
        mask_token_rate=0.0,
        random_token_rate=1.0,
        unselectable_token_ids=[],
    )
    tf.random.set_seed(5)
    counts = [
        np.bincount(np.asarray(run_tf_data(layer, x)["token_ids"]).ravel(), minlength=vocab)
        for layer in (make(**kwargs), make_keras_hub(**kwargs))
    ]
    uniform = np.full(vocab, 1.0 / vocab)
    assert _chi2_gof(counts[0], uniform) > P_MIN
    assert _chi2_gof(counts[1], uniform) > P_MIN
    assert _chi2_same(counts[0], counts[1]) > P_MIN
    assert (
        _chi2_gof(
            counts[0], np.r_[[2.0 / vocab], np.full(vocab - 1, 1.0 - 2.0 / vocab) / (vocab - 1)]
        )
        < P_MIN
    )


@needs_keras_hub
def test_cap_picks_a_uniform_subset_like_keras_hub():
    # 12 selectable tokens, rate 1, cap 3: every 3-subset equally likely; the
    # marginal of each position is uniform.
    x = tf.constant(np.tile(np.arange(5, 17, dtype=np.int32), [3000, 1]))
    tf.random.set_seed(6)
    counts = [
        np.bincount(np.asarray(run_tf_data(layer, x)["mask_positions"]).ravel(), minlength=12)
        for layer in (
            make(mask_selection_rate=1.0, mask_selection_length=3),
            make_keras_hub(mask_selection_rate=1.0, mask_selection_length=3),
        )
    ]
    uniform = np.full(12, 1.0 / 12)
    assert _chi2_gof(counts[0], uniform) > P_MIN
    assert _chi2_same(counts[0], counts[1]) > P_MIN


# ------------------------------------- strategies (tf_mlm extensions)
#
# Vocabulary of the strategy tests: 0 [PAD], 1 [CLS], 2 [SEP], 3 [MASK];
# ids 10..19 continue a word ("##..."), every other id starts one.

S_VOCAB, S_MASK, S_SPECIAL = 100, 3, [0, 1, 2, 3]
S_TABLE = [10 <= i < 20 for i in range(S_VOCAB)]


def word_rows(seed, rows=60, max_words=30, pad_to=None):
    """[CLS] words [SEP] rows of 1..4-piece words (lists), padded with 0 to
    `pad_to` when given."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rows):
        row = [1]
        for _ in range(rng.integers(0, max_words)):
            row.append(int(rng.integers(20, S_VOCAB)))
            row.extend(int(t) for t in rng.integers(10, 20, size=rng.integers(0, 4)))
        out.append(row + [2])
    if pad_to is not None:
        out = [row[:pad_to] + [0] * (pad_to - len(row[:pad_to])) for row in out]
    return out


def words_of(row):
    """The words of a row as lists of positions (grouped by S_TABLE)."""
    words = []
    for i, t in enumerate(row):
        if i and S_TABLE[t]:
            words[-1].append(i)
        else:
            words.append([i])
    return words


def masked_words(row, positions):
    """(whole words masked, words cut) by a row's masked positions."""
    chosen = set(positions)
    whole = cut = 0
    for word in words_of(row):
        hit = chosen.intersection(word)
        whole += len(hit) == len(word)
        cut += 0 < len(hit) < len(word)
    return whole, cut


def make_s(**kwargs):
    args = dict(
        vocabulary_size=S_VOCAB,
        mask_selection_rate=0.15,
        mask_token_id=S_MASK,
        unselectable_token_ids=S_SPECIAL,
    )
    args.update(kwargs)
    return MaskedLMMaskGenerator(**args)


def real_positions(out):
    """Per row, the masked positions (padding dropped)."""
    positions, weights = py(out["mask_positions"]), py(out["mask_weights"])
    return [[p for p, w in zip(pos, ws) if w] for pos, ws in zip(positions, weights)]


def test_whole_word_masking_masks_whole_words():
    import tf_mlm

    rows = word_rows(0)
    x = tf.ragged.constant(rows, tf.int64)
    masker = make_s(continuation_table=S_TABLE, mask_selection_rate=0.3, seed=(1, 2))
    out = run_tf_data(masker, x)
    for row, pos in zip(rows, real_positions(out)):
        whole, cut = masked_words(row, pos)
        assert cut == 0
        selectable = [w for w in words_of(row) if not {row[i] for i in w} & set(S_SPECIAL)]
        assert whole == math.ceil(np.float32(len(selectable)) * np.float32(0.3))
        assert not {row[i] for i in pos} & set(S_SPECIAL)
    # The same masks as tf_mlm's rank-3 path on group_words' output.
    words = tf_mlm.group_words(x, S_TABLE)
    masked, positions, ids = tf_mlm.mask_language_model(
        words,
        tf_mlm.RandomItemSelector(2**31 - 1, 0.3, S_SPECIAL),
        tf_mlm.MaskValuesChooser(S_VOCAB, S_MASK),
        axis=1,
        seed=[1, 2],
    )
    assert py(out["token_ids"]) == masked.to_list()
    assert py(out["mask_positions"]) == positions.to_list()
    assert py(out["mask_ids"]) == ids.to_list()


def test_whole_word_masking_with_a_selection_length():
    # The length caps the selected words and the masked tokens: pieces past
    # it stay unmasked (the dense kernel's rule), so only the last masked
    # word of a full row can be cut.
    length = 6
    rows = word_rows(1, pad_to=64)
    masker = make_s(
        continuation_table=S_TABLE,
        mask_selection_rate=0.5,
        mask_selection_length=length,
        mask_token_rate=1.0,
        random_token_rate=0.0,
    )
    out = run_tf_function(masker, tf.constant(rows))
    assert out["mask_positions"].shape == (len(rows), length)
    new_rows = py(out["token_ids"])
    for row, new, pos in zip(rows, new_rows, real_positions(out)):
        assert len(pos) <= length
        whole, cut = masked_words(row, pos)
        assert cut == 0 or (
            cut == 1 and len(pos) == length and pos[-1] + 1 < len(row) and S_TABLE[row[pos[-1] + 1]]
        )
        assert [i for i, t in enumerate(new) if t == S_MASK] == pos


def test_span_masking_meets_the_budget_in_spans():
    rng = np.random.default_rng(2)
    rows = [
        [int(t) for t in rng.integers(0, S_VOCAB, size=n)]  # 4% unselectable
        for n in rng.integers(0, 200, 80)
    ]
    x = tf.ragged.constant(rows, tf.int32)
    for length in (None, 12):
        masker = make_s(span_p=0.2, mask_selection_length=length, seed=(3, 4))
        out = run_tf_data(masker, x)
        runs = []
        for row, pos in zip(rows, real_positions(out)):
            selectable = sum(t not in S_SPECIAL for t in row)
            budget = math.ceil(np.float32(selectable) * np.float32(0.15))
            assert len(pos) == (budget if length is None else min(budget, length))
            assert not {row[i] for i in pos} & set(S_SPECIAL)
            starts = [p for p in pos if p - 1 not in pos]
            runs += [next(i for i in range(s, len(row) + 1) if i not in pos) - s for s in starts]
        if length is None:  # spans, not tokens (those would give runs of about 1.2)
            assert np.mean(runs) > 2.5
        # The same masks as tf_mlm.SpanItemSelector.
        import tf_mlm

        masked, positions, _ = tf_mlm.mask_language_model(
            x,
            tf_mlm.SpanItemSelector(length or 2**31 - 1, 0.15, S_SPECIAL, p=0.2),
            tf_mlm.MaskValuesChooser(S_VOCAB, S_MASK),
            seed=[3, 4],
        )
        assert real_positions(out) == positions.to_list()
        assert py(out["token_ids"]) == masked.to_list()


def test_span_masking_of_whole_words():
    rows = word_rows(3, rows=80, max_words=60)
    masker = make_s(
        span_p=0.3,
        max_span_length=4,
        continuation_table=S_TABLE,
        mask_selection_rate=0.2,
        seed=(5, 6),
    )
    out = run_tf_data(masker, tf.ragged.constant(rows))
    spans = 0
    for row, pos in zip(rows, real_positions(out)):
        whole, cut = masked_words(row, pos)
        assert cut == 0
        selectable = sum(t not in S_SPECIAL for t in row)
        assert len(pos) <= math.ceil(np.float32(selectable) * np.float32(0.2))
        spans += whole > 0
    assert spans > 50


def test_excluded_token_ids_are_never_drawn():
    excluded = S_SPECIAL + list(range(10, 60))
    x = tf.constant(np.full([300, 40], 70, np.int32))
    masker = make_s(
        mask_selection_rate=1.0,
        mask_token_rate=0.0,
        random_token_rate=1.0,
        unselectable_token_ids=[],
        excluded_token_ids=excluded,
        seed=7,
    )
    drawn = np.asarray(run_tf_function(masker, x)["token_ids"]).ravel()
    counts = np.bincount(drawn, minlength=S_VOCAB)
    assert counts[excluded].sum() == 0
    allowed = np.setdiff1d(np.arange(S_VOCAB), excluded)
    assert _stats.uniform_p(counts[allowed]) > _stats.P_FLOOR


def test_replacement_frequencies_are_followed():
    weights = np.random.default_rng(4).random(S_VOCAB) ** 2
    excluded = [5, 50, 99]
    x = tf.constant(np.full([400, 50], 70, np.int64))
    masker = make_s(
        mask_selection_rate=1.0,
        mask_token_rate=0.0,
        random_token_rate=1.0,
        unselectable_token_ids=[],
        replacement_frequencies=weights,
        excluded_token_ids=excluded,
        mask_selection_length=50,
        seed=8,
    )
    counts = np.bincount(np.asarray(run_tf_data(masker, x)["token_ids"]).ravel(), minlength=S_VOCAB)
    assert counts[excluded].sum() == 0
    expected = weights.copy()
    expected[excluded] = 0
    keep = expected > 0
    assert _chi2_gof(counts[keep], expected[keep] / expected.sum()) > _stats.P_FLOOR
    # Discrimination: uniform replacements are rejected.
    assert _chi2_gof(counts[keep], np.full(keep.sum(), 1.0 / keep.sum())) < _stats.P_FLOOR


STRATEGIES = {
    "words": dict(continuation_table=S_TABLE),
    "spans": dict(span_p=0.2),
    "word_spans": dict(span_p=0.4, max_span_length=3, continuation_table=S_TABLE),
    "excluded": dict(excluded_token_ids=S_SPECIAL + [20, 21]),
    "frequencies": dict(replacement_frequencies=np.arange(S_VOCAB) % 7),
    "all": dict(
        span_p=0.3,
        continuation_table=S_TABLE,
        excluded_token_ids=[0, 1],
        replacement_frequencies=np.arange(S_VOCAB) % 5,
    ),
}


@pytest.mark.parametrize("length", [None, 7])
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategies_numpy_path_equals_tf_path_for_a_seed(name, length):
    masker = make_s(
        mask_selection_length=length,
        mask_selection_rate=0.4,
        mask_token_rate=0.4,
        random_token_rate=0.4,
        seed=(9, 10),
        **STRATEGIES[name],
    )
    dense = word_rows(4, rows=12, max_words=12, pad_to=40)
    for x in (dense, word_rows(5, rows=12, max_words=12), dense[0]):
        tf_out = run_tf_data(
            masker,
            tf.ragged.constant(x) if x is not dense and isinstance(x[0], list) else tf.constant(x),
        )
        np_out = masker._call_numpy(x, None)
        for key in OUT_KEYS:
            assert py(tf_out[key]) == py(np_out[key]), key


def test_default_strategies_keep_the_keras_hub_config():
    config = make().get_config()
    for key in (
        "continuation_table",
        "span_p",
        "max_span_length",
        "excluded_token_ids",
        "replacement_frequencies",
    ):
        assert key not in config


def test_strategies_config_round_trip():
    masker = make_s(mask_selection_length=9, seed=(1, 2), **STRATEGIES["all"])
    masker_spans = make_s(span_p=0.25, max_span_length=6)
    for layer in (masker, masker_spans):
        config = layer.get_config()
        assert json.loads(json.dumps(config)) == config
        clone = MaskedLMMaskGenerator.from_config(config)
        assert clone.get_config() == config
        blob = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
        assert keras.saving.deserialize_keras_object(blob).get_config() == config
    config = masker.get_config()
    assert config["continuation_table"] == S_TABLE and config["span_p"] == 0.3
    assert config["excluded_token_ids"] == [0, 1]
    assert config["replacement_frequencies"] == (np.arange(S_VOCAB) % 5).tolist()
    assert "max_span_length" not in config and masker_spans.get_config()["max_span_length"] == 6
    x = tf.constant(word_rows(6, rows=4, pad_to=30))
    clone = MaskedLMMaskGenerator.from_config(config)
    a, b = run_tf_data(masker, x), run_tf_data(clone, x)
    for key in OUT_KEYS:
        assert py(a[key]) == py(b[key])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(continuation_table="abc"), TypeError, "continuation_table"),
        (dict(continuation_table=[0.5] * 10), TypeError, "continuation_table"),
        (dict(continuation_table=[2, 0, 1]), TypeError, "continuation_table"),
        (dict(continuation_table=[[True]]), ValueError, "continuation_table"),
        (dict(continuation_table=[]), ValueError, "continuation_table"),
        (dict(continuation_table=[False] * 101), ValueError, "continuation_table.*101"),
        (dict(span_p=0.0), ValueError, "span_p"),
        (dict(span_p=1.5), ValueError, "span_p"),
        (dict(span_p=float("nan")), ValueError, "span_p"),
        (dict(span_p="0.2"), TypeError, "span_p"),
        (dict(span_p=True), TypeError, "span_p"),
        (dict(span_p=0.2, max_span_length=0), ValueError, "max_span_length"),
        (dict(max_span_length=2.5), TypeError, "max_span_length"),
        (dict(excluded_token_ids=3), TypeError, "excluded_token_ids"),
        (dict(excluded_token_ids=[1.5]), TypeError, "excluded_token_ids"),
        (dict(excluded_token_ids=list(range(100))), ValueError, "excluded_token_ids"),
        (dict(replacement_frequencies=[1.0] * 99), ValueError, "vocabulary_size.*99"),
        (dict(replacement_frequencies=np.ones([10, 10])), ValueError, "replacement_frequencies"),
        (dict(replacement_frequencies=["a"] * 100), TypeError, "replacement_frequencies"),
        (dict(replacement_frequencies=[-1.0] + [1.0] * 99), ValueError, "replacement_frequencies"),
        (dict(replacement_frequencies=[0.0] * 100), ValueError, "replacement_frequencies"),
        (
            dict(replacement_frequencies=[1.0] + [0.0] * 99, excluded_token_ids=[0]),
            ValueError,
            "replacement_frequencies",
        ),
    ],
)
def test_invalid_strategy_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_s(**kwargs)


# ----------------------------------------------------------------- imports


def test_import_tf_mlm_does_not_import_keras():
    code = (
        "import sys, tf_mlm; "
        "assert 'keras' not in sys.modules and 'tf_mlm.layers' not in sys.modules"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
