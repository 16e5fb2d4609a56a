"""Drop-in conformance: code written for tensorflow_text and keras_hub sees
the same results, types and structure from tf_mlm.

Deterministic behaviour only (fixed selectors, choosers that always mask
or always replace), so every output is compared element for element with
the peer, together with what a pipeline depends on: output rank, ragged
rank, dtypes, row-splits dtype, static shapes inside a ``tf.function``
with unknown shapes, and ``tf.data`` element specs. The random laws are
compared statistically in ``test_vs_tensorflow_text.py`` and
``test_layers.py``.

The axes are the ones tensorflow_text handles: ``axis=1`` and every
negative axis naming a dimension ``>= 1``. What tf_mlm adds beyond them
(``axis > 1``, dense inputs, ``keep_structure``) is tested in
``test_selectors.py`` and ``test_masking.py``.
"""

import types

import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tf_mlm

text = pytest.importorskip("tensorflow_text")
from tensorflow_text.python.ops import item_selector_ops as text_selectors  # noqa: E402
from tensorflow_text.python.ops import masking_ops as text_masking  # noqa: E402

HYPOTHESIS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNSELECTABLE = [0, 9]
RANDOM_TOKEN = 77


def nested(depth):
    strategy = st.lists(st.integers(0, 9), max_size=5)
    for _ in range(depth - 1):
        strategy = st.lists(strategy, max_size=4)
    return strategy


@st.composite
def batches(draw, ranks=(2, 3, 4)):
    """(ragged batch, an axis tensorflow_text handles) with random ids and
    splits dtypes."""
    rank = draw(st.sampled_from(ranks))
    rows = draw(st.lists(nested(rank - 1), min_size=1, max_size=5))
    rt = tf.ragged.constant(
        rows,
        draw(st.sampled_from([tf.int32, tf.int64])),
        ragged_rank=rank - 1,
        row_splits_dtype=draw(st.sampled_from([tf.int32, tf.int64])),
    )
    level = draw(st.integers(1, rank - 1))  # the dimension the items live in
    axis = draw(st.sampled_from([1, level - rank]) if level == 1 else st.just(level - rank))
    return rt, axis


def structure(t, splits_dtype=True):
    """What a pipeline sees of a tensor besides its values."""
    if isinstance(t, tf.RaggedTensor):
        return ("ragged", t.shape.as_list(), t.ragged_rank) + (
            (t.dtype, t.row_splits.dtype) if splits_dtype else ()
        )
    return ("dense", t.shape.as_list(), t.dtype)


def values(t):
    return t.to_list() if isinstance(t, tf.RaggedTensor) else t.numpy().tolist()


def assert_same(ours, theirs, int32_splits=False):
    """Equal values and structure. With `int32_splits`, tensorflow_text
    failed on the int32 row splits of the input and `theirs` comes from the
    same input with int64 splits: tf_mlm keeps int32 (splits, positions)."""
    assert type(ours) is type(theirs)
    for a, b in zip(tf.nest.flatten(ours), tf.nest.flatten(theirs)):
        assert structure(a, not int32_splits) == structure(b, not int32_splits)
        assert values(a) == values(b)
        if int32_splits and isinstance(a, tf.RaggedTensor):
            assert a.row_splits.dtype == tf.int32
            assert a.dtype == b.dtype or (a.dtype, b.dtype) == (tf.int32, tf.int64)


def both(make, rt):
    """`make(module, rt)` with tf_mlm's classes and with the peer's, then
    assert_same on the two."""
    ours = make(tf_mlm, rt)
    try:
        theirs = make(_TEXT, rt)
    except (ValueError, tf.errors.InvalidArgumentError):
        if rt.row_splits.dtype != tf.int32:
            raise
        # tensorflow_text mixes int32 and int64 row splits and fails there.
        theirs = make(_TEXT, rt.with_row_splits_dtype(tf.int64))
        assert_same(ours, theirs, int32_splits=True)
        return ours
    assert_same(ours, theirs)
    return ours


# tensorflow_text's masking API where its own code defines it (the package
# does not export every name at the top level).
_TEXT = types.SimpleNamespace(
    **{
        name: getattr(text_selectors, name)
        for name in (
            "ItemSelector",
            "FirstNItemSelector",
            "LastNItemSelector",
            "NothingSelector",
            "RandomItemSelector",
        )
    },
    MaskValuesChooser=text_masking.MaskValuesChooser,
    mask_language_model=text_masking.mask_language_model,
)


def every_other_selector(module):
    """A user's selector overriding get_selection_mask: every other item
    (by flat index) among the selectable ones."""

    class EveryOther(module.ItemSelector):
        def get_selection_mask(self, input_ids, axis=1):
            selectable = self.get_selectable(input_ids, axis)
            flat = selectable.flat_values
            even = tf.equal(tf.range(tf.size(flat)) % 2, 0)
            return selectable.with_flat_values(tf.logical_and(flat, even))

    return EveryOther(UNSELECTABLE)


def always_random_chooser(module):
    """A user's chooser overriding get_mask_values, as tensorflow_text's own
    test does: every selected token becomes RANDOM_TOKEN."""

    class AlwaysRandom(module.MaskValuesChooser):
        def get_mask_values(self, masked_lm_ids, **kwargs):
            values = tf.fill(tf.shape(masked_lm_ids.flat_values), RANDOM_TOKEN)
            return masked_lm_ids.with_flat_values(tf.cast(values, masked_lm_ids.dtype))

    return AlwaysRandom(100, 1, 0.0, 1.0)


SELECTORS = {
    "first_n": lambda m: m.FirstNItemSelector(2, UNSELECTABLE),
    "last_n": lambda m: m.LastNItemSelector(3, UNSELECTABLE),
    "base": lambda m: m.ItemSelector(UNSELECTABLE),
    "every_other": every_other_selector,
}
CHOOSERS = {
    "always_mask": lambda m: m.MaskValuesChooser(100, 99, 1.0, 0.0),
    # vocab_size 1: the uniform replacement id is always 0.
    "always_random_builtin": lambda m: m.MaskValuesChooser(1, 99, 0.0, 1.0),
    "always_random_custom": always_random_chooser,
}


@HYPOTHESIS
@given(batches(), st.sampled_from(sorted(SELECTORS)), st.sampled_from(sorted(CHOOSERS)))
def test_mask_language_model_equals_tensorflow_text(batch, selector, chooser):
    rt, axis = batch
    ours = both(
        lambda m, x: m.mask_language_model(
            x, SELECTORS[selector](m), CHOOSERS[chooser](m), axis=axis
        ),
        rt,
    )
    assert ours[0].ragged_rank == 1  # merged to [batch, (tokens)]


@HYPOTHESIS
@given(batches(), st.sampled_from(["first_n", "last_n", "base", "every_other"]))
def test_selection_masks_equal_tensorflow_text(batch, selector):
    rt, axis = batch
    for method in ("get_selectable", "get_selection_mask"):
        both(lambda m, x: getattr(SELECTORS[selector](m), method)(x, axis), rt)


@HYPOTHESIS
@given(batches(ranks=(2, 3)))
def test_random_selector_with_a_shuffle_fn_and_nothing_selector_equal_tensorflow_text(batch):
    rt, _ = batch
    for make in (
        lambda m: m.RandomItemSelector(2, 1.0, UNSELECTABLE, shuffle_fn=tf.identity),
        lambda m: m.RandomItemSelector(
            3, 0.5, UNSELECTABLE, shuffle_fn=lambda x: tf.reverse(x, [0])
        ),
        lambda m: m.NothingSelector(),
    ):
        both(lambda m, x: make(m).get_selection_mask(x, 1), rt)
        both(lambda m, x: m.mask_language_model(x, make(m), CHOOSERS["always_mask"](m)), rt)


@HYPOTHESIS
@given(batches(), st.sampled_from(["first_n", "last_n", "base"]))
def test_selectors_on_string_tokens_equal_tensorflow_text(batch, selector):
    rt, axis = batch
    tokens = tf.ragged.map_flat_values(
        lambda v: tf.strings.join(["w", tf.strings.as_string(v)]), rt
    )
    strings = [b"w0", b"w9"]
    makers = {
        "first_n": lambda m: m.FirstNItemSelector(2, strings),
        "last_n": lambda m: m.LastNItemSelector(1, strings),
        "base": lambda m: m.ItemSelector(strings),
    }
    for method in ("get_selectable", "get_selection_mask"):
        both(lambda m, x: getattr(makers[selector](m), method)(x, axis), tokens)
    both(lambda m, x: m.FirstNItemSelector(1).get_selectable(x, axis), tokens)


@pytest.mark.parametrize("dtype", [tf.int8, tf.int16, tf.uint8, tf.float32])
def test_selectors_on_other_dtypes_equal_tensorflow_text(dtype):
    rt = tf.cast(tf.ragged.constant([[[1, 2], [3]], [[4, 5, 6]], [[0], [7], [8]]]), dtype)
    for make in (
        lambda m: m.FirstNItemSelector(1, [3]),
        lambda m: m.LastNItemSelector(2, [8]),
        lambda m: m.ItemSelector([5]),
    ):
        both(lambda m, x: make(m).get_selectable(x, 1), rt)


def test_per_row_num_to_select_equals_tensorflow_text():
    rt = tf.ragged.constant([[1, 2, 3], [4, 5], [6]], tf.int64)
    for count in ([[2], [1], [1]], [0, 2, 1], tf.constant([3, 0, 1], tf.int32), [1]):
        for cls in ("FirstNItemSelector", "LastNItemSelector"):
            both(lambda m, x: getattr(m, cls)(count).get_selectable(x, -1), rt)


def graph_structures(fn, spec):
    """Static structure of `fn`'s outputs, traced on `spec`."""
    outputs = tf.function(fn, input_signature=[spec]).get_concrete_function().structured_outputs
    return [structure(t) for t in tf.nest.flatten(outputs)]


@pytest.mark.slow  # traces a graph per example: run once, in the full suite
@HYPOTHESIS
@given(batches(), st.booleans(), st.sampled_from(sorted(SELECTORS)))
def test_static_shapes_in_a_tf_function_equal_tensorflow_text(batch, known_batch, selector):
    rt, axis = batch
    rank = rt.shape.rank
    spec = tf.RaggedTensorSpec(
        [rt.shape[0] if known_batch else None] + [None] * (rank - 1),
        rt.dtype,
        ragged_rank=rank - 1,
        row_splits_dtype=rt.row_splits.dtype,
    )
    for fn in (
        lambda m, x: m.mask_language_model(
            x, SELECTORS[selector](m), CHOOSERS["always_mask"](m), axis=axis
        ),
        lambda m, x: SELECTORS[selector](m).get_selection_mask(x, axis),
    ):
        ours = graph_structures(lambda x: fn(tf_mlm, x), spec)
        try:
            theirs = graph_structures(lambda x: fn(_TEXT, x), spec)
        except ValueError:
            assert rt.row_splits.dtype == tf.int32  # the peer fails on int32 splits
            continue
        assert ours == theirs


@pytest.mark.slow  # traces a graph per example: run once, in the full suite
@HYPOTHESIS
@given(batches(), st.sampled_from(sorted(SELECTORS)))
def test_tf_data_element_specs_and_values_equal_tensorflow_text(batch, selector):
    rt, axis = batch

    def run(m, x):
        ds = (
            tf.data.Dataset.from_tensor_slices(x)
            .ragged_batch(2)
            .map(
                lambda b: m.mask_language_model(
                    b, SELECTORS[selector](m), CHOOSERS["always_mask"](m), axis=axis
                )
            )
        )
        return ds.element_spec, [tf.nest.map_structure(lambda t: t.to_list(), e) for e in ds]

    ours = run(tf_mlm, rt)
    try:
        theirs = run(_TEXT, rt)
    except (ValueError, tf.errors.InvalidArgumentError):
        assert rt.row_splits.dtype == tf.int32  # the peer fails on int32 splits
        theirs = run(_TEXT, rt.with_row_splits_dtype(tf.int64))
        assert ours[1] == theirs[1]
        return
    assert ours == theirs


def test_invalid_value_rates_fail_when_run_like_tensorflow_text():
    ids = tf.ragged.constant([[1, 2, 3], [4, 5]])
    for module in (tf_mlm, _TEXT):
        chooser = module.MaskValuesChooser(10, 3, 0.9, 5.6)  # accepted when built
        with pytest.raises(tf.errors.InvalidArgumentError, match="token_rate"):
            chooser.get_mask_values(ids)
        with tf.Graph().as_default():
            out = chooser.get_mask_values(tf.ragged.constant([[1, 2, 3], [4, 5]]))
            with tf.compat.v1.Session() as sess, pytest.raises(tf.errors.InvalidArgumentError):
                sess.run(out.flat_values)


def test_saved_model_signature_returns_merged_tokens(tmp_path):
    class Masker(tf.Module):
        @tf.function(input_signature=[tf.RaggedTensorSpec([None, None, None], tf.int64, 2)])
        def __call__(self, words):
            return tf_mlm.mask_language_model(
                words,
                tf_mlm.FirstNItemSelector(1, [0]),
                tf_mlm.MaskValuesChooser(100, 99, 1.0, 0.0),
            )

    tf.saved_model.save(Masker(), str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    words = tf.ragged.constant([[[0], [5, 6], [7]], [[8, 9]]], tf.int64)
    masked, positions, ids = loaded(words)
    assert masked.to_list() == [[0, 99, 99, 7], [99, 99]]
    assert positions.to_list() == [[1, 2], [0, 1]] and ids.to_list() == [[5, 6], [8, 9]]


def test_tf1_graph_returns_merged_tokens():
    with tf.Graph().as_default():
        words = tf.compat.v1.ragged.placeholder(tf.int64, ragged_rank=2, value_shape=[])
        masked, _, _ = tf_mlm.mask_language_model(
            words, tf_mlm.FirstNItemSelector(1, [0]), tf_mlm.MaskValuesChooser(100, 99, 1.0, 0.0)
        )
        assert masked.ragged_rank == 1
        with tf.compat.v1.Session() as sess:
            feed = tf.compat.v1.ragged.constant_value([[[0], [5, 6]], [[8]]], dtype="int64")
            out = sess.run(masked, {words: feed})
    assert out.to_list() == [[0, 99, 99], [99]]


def test_keep_structure_keeps_the_nesting_on_both_paths():
    words = tf.ragged.constant([[[0], [5, 6], [7]], [[8, 9]]], tf.int64)
    for selector in (tf_mlm.FirstNItemSelector(1, [0]), tf_mlm.RandomItemSelector(1, 0.1, [0])):
        chooser = tf_mlm.MaskValuesChooser(100, 99, 1.0, 0.0)
        merged = tf_mlm.mask_language_model(words, selector, chooser, seed=[1, 2])
        nested = tf_mlm.mask_language_model(
            words, selector, chooser, seed=[1, 2], keep_structure=True
        )
        assert nested[0].ragged_rank == 2 and merged[0].ragged_rank == 1
        assert nested[0].merge_dims(1, -1).to_list() == merged[0].to_list()
        assert nested[1].to_list() == merged[1].to_list()


def test_dense_input_of_rank_3_gives_dense_tokens():
    ids = tf.constant([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], tf.int32)
    chooser = tf_mlm.MaskValuesChooser(100, 99, 1.0, 0.0)
    masked, _, _ = tf_mlm.mask_language_model(ids, tf_mlm.FirstNItemSelector(1), chooser)
    assert isinstance(masked, tf.Tensor) and masked.shape == [2, 4]
    assert masked.numpy().tolist() == [[99, 99, 3, 4], [99, 99, 7, 8]]
    kept, _, _ = tf_mlm.mask_language_model(
        ids, tf_mlm.FirstNItemSelector(1), chooser, keep_structure=True
    )
    assert (
        kept.shape == [2, 2, 2] and kept.numpy().reshape(2, 4).tolist() == masked.numpy().tolist()
    )


@pytest.mark.parametrize("dtype", [tf.string, tf.int16])
def test_masking_non_id_tokens_is_a_clear_type_error(dtype):
    # tensorflow_text fails there inside a Cast or a scatter.
    rt = (
        tf.ragged.constant([["a", "b"], ["c"]])
        if dtype == tf.string
        else tf.ragged.constant([[1, 2], [3]], dtype)
    )
    with pytest.raises(TypeError, match="int32 or int64"):
        tf_mlm.mask_language_model(
            rt, tf_mlm.FirstNItemSelector(1), tf_mlm.MaskValuesChooser(10, 1)
        )


def test_axis_zero_is_rejected():
    # tensorflow_text's selectors return row flags there that select no items.
    rt = tf.ragged.constant([[1, 2], [3]])
    with pytest.raises(ValueError, match="axis"):
        tf_mlm.FirstNItemSelector(1).get_selectable(rt, 0)
    with pytest.raises(ValueError, match="axis"):
        tf_mlm.ItemSelector().get_selectable(rt, -2)


@pytest.mark.parametrize("mask_token", [-1, 10, 2**31 - 1])
def test_any_mask_token_the_ids_hold_is_written(mask_token):
    rt = tf.ragged.constant([[1, 2, 3], [4]], tf.int32)
    both(
        lambda m, x: m.mask_language_model(
            x, m.FirstNItemSelector(1), m.MaskValuesChooser(10, mask_token, 1.0, 0.0)
        ),
        rt,
    )


def test_selection_rate_above_one_selects_everything_like_tensorflow_text():
    rt = tf.ragged.constant([[1, 2, 3, 0], [4, 0]], tf.int64)
    ours = both(
        lambda m, x: m.mask_language_model(
            x, m.RandomItemSelector(10, 1.5, [0]), m.MaskValuesChooser(10, 9, 1.0, 0.0)
        ),
        rt,
    )
    assert ours[1].to_list() == [[0, 1, 2], [0]]


# ------------------------------------------------------------- keras_hub

keras_hub = pytest.importorskip("keras_hub")
from tf_mlm.layers import MaskedLMMaskGenerator  # noqa: E402

LAYER_KEYS = ("token_ids", "mask_positions", "mask_ids", "mask_weights")


@st.composite
def layer_inputs(draw):
    """(a batch, the spec a pipeline would trace it with)."""
    dtype = draw(st.sampled_from([tf.int32, tf.int64]))
    kind = draw(st.sampled_from(["dense", "ragged", "unbatched"]))
    rows = draw(st.integers(1, 4))
    if kind == "ragged":
        lengths = draw(st.lists(st.integers(0, 7), min_size=rows, max_size=rows))
        x = tf.RaggedTensor.from_row_lengths(
            tf.range(sum(lengths), dtype=dtype) % 9,
            tf.constant(lengths, draw(st.sampled_from([tf.int32, tf.int64]))),
        )
        spec = tf.RaggedTensorSpec(
            [None if draw(st.booleans()) else rows, None], dtype, 1, x.row_splits.dtype
        )
        return x, spec
    width = draw(st.integers(0, 7))
    x = tf.reshape(tf.range(rows * width, dtype=dtype) % 9, [rows, width])
    if kind == "unbatched":
        x = x[0]
    shape = [None if draw(st.booleans()) else d for d in x.shape]
    return x, tf.TensorSpec(shape, dtype)


def both_layers(**kwargs):
    kwargs = {"vocabulary_size": 20, "mask_token_id": 3, "unselectable_token_ids": [0, 8], **kwargs}
    return MaskedLMMaskGenerator(**kwargs), keras_hub.layers.MaskedLMMaskGenerator(**kwargs)


def layer_structure(outputs):
    assert set(outputs) == set(LAYER_KEYS)
    return {k: structure(v) for k, v in outputs.items()}


@pytest.mark.slow  # traces a graph per example: run once, in the full suite
@HYPOTHESIS
@given(layer_inputs(), st.sampled_from([None, 1, 4]), st.sampled_from([0.0, 0.5, 1.0]))
def test_layer_static_structure_equals_keras_hub(batch, length, rate):
    x, spec = batch
    ours, theirs = both_layers(mask_selection_rate=rate, mask_selection_length=length)
    traced = [
        tf.function(layer).get_concrete_function(spec).structured_outputs
        for layer in (ours, theirs)
    ]
    assert layer_structure(traced[0]) == layer_structure(traced[1])
    specs = [tf.data.Dataset.from_tensors(x).map(layer).element_spec for layer in (ours, theirs)]
    assert specs[0] == specs[1]


@pytest.mark.slow  # traces a graph per example: run once, in the full suite
@HYPOTHESIS
@given(
    layer_inputs(),
    st.sampled_from([None, 2, 9]),
    st.sampled_from([(1.0, 0.0), (0.0, 0.0), (0.0, 1.0)]),
)
def test_layer_values_in_tf_data_equal_keras_hub(batch, length, rates):
    # Selection rate 1 with a cap of 2 leaves a random choice: compare only
    # where the draw cannot matter (no cap, or a cap above every row).
    x, _ = batch
    mask_rate, random_rate = rates
    ours, theirs = both_layers(
        mask_selection_rate=1.0,
        mask_selection_length=length,
        mask_token_rate=mask_rate,
        random_token_rate=random_rate,
        vocabulary_size=1 if random_rate else 20,
        mask_token_id=0,
    )
    results = []
    for layer in (ours, theirs):
        (out,) = list(tf.data.Dataset.from_tensors(x).map(layer))
        results.append(out)
    if length == 2:
        for out in results:
            assert values(out["mask_weights"]) == values(results[0]["mask_weights"])
        return
    for key in LAYER_KEYS:
        assert structure(results[0][key]) == structure(results[1][key]), key
        assert values(results[0][key]) == values(results[1][key]), key


def test_layer_selection_length_zero_masks_nothing_with_dense_outputs():
    # keras_hub documents dense outputs whenever the length is set and returns
    # them from its eager path; its graph path returns ragged ones for 0.
    layer = MaskedLMMaskGenerator(
        vocabulary_size=20, mask_selection_rate=0.5, mask_token_id=3, mask_selection_length=0
    )
    x = tf.constant([[1, 2, 3], [4, 5, 6]])
    for out in (layer(x), next(iter(tf.data.Dataset.from_tensors(x).map(layer)))):
        assert values(out["token_ids"]) == values(x)
        for key in LAYER_KEYS[1:]:
            assert out[key].shape == [2, 0]
    assert layer(x[0])["mask_positions"].shape == [0]


@pytest.mark.parametrize("mask_token_id", [-1, 19])
def test_layer_accepts_every_mask_token_id_keras_hub_accepts(mask_token_id):
    ours, theirs = both_layers(
        mask_selection_rate=1.0,
        mask_token_rate=1.0,
        random_token_rate=0.0,
        mask_token_id=mask_token_id,
    )
    x = tf.constant([[1, 2, 0]])
    a, b = (next(iter(tf.data.Dataset.from_tensors(x).map(layer))) for layer in (ours, theirs))
    assert values(a["token_ids"]) == values(b["token_ids"]) == [[mask_token_id] * 2 + [0]]


def test_layer_rejects_what_keras_hub_rejects_with_its_message():
    for cls in (MaskedLMMaskGenerator, keras_hub.layers.MaskedLMMaskGenerator):
        with pytest.raises(
            ValueError,
            match=r"Mask token id should be in range "
            r"\[0, vocabulary_size - 1\], but received "
            r"mask_token_id=20",
        ):
            cls(vocabulary_size=20, mask_selection_rate=0.5, mask_token_id=20)


def test_layer_takes_whole_floats_like_keras_hub_graph_path():
    kwargs = dict(
        vocabulary_size=20.0,
        mask_selection_rate=1.0,
        mask_token_id=3.0,
        mask_selection_length=2.0,
        mask_token_rate=1.0,
        random_token_rate=0.0,
    )
    ours, theirs = MaskedLMMaskGenerator(**kwargs), keras_hub.layers.MaskedLMMaskGenerator(**kwargs)
    x = tf.constant([[1, 2], [4, 0]])
    a, b = (next(iter(tf.data.Dataset.from_tensors(x).map(layer))) for layer in (ours, theirs))
    for key in LAYER_KEYS:
        assert structure(a[key]) == structure(b[key]) and values(a[key]) == values(b[key])
