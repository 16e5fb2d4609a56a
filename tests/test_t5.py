"""``tf_mlm.t5``, the drop-in for ``t5.data.preprocessors``' span corruption.

Its own behaviour (seqio's seeds, the elements, the batched path against the
kernel and against the per-example path) needs seqio, a dependency of
``tf_mlm.t5``; the comparisons with t5 0.9.4 itself, element for element,
need t5 (a test-only reference). tests/t5_job.sh installs both and sets
``TF_MLM_T5_TESTS=required``, under which a missing one is an error, not a
skip.
"""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tests._t5_deps import t5_dependency as _import
from tests._t5_oracle import oracle_mask

seqio = _import("seqio")

from tf_mlm import t5 as ours  # noqa: E402

VOCAB = seqio.PassThroughVocabulary(size=32100, eos_id=1)
FEATURES = {k: seqio.Feature(VOCAB, add_eos=True) for k in ("inputs", "targets")}
LENGTHS = {"inputs": 64, "targets": 32}
DEFAULT_GLOBAL_SEED = 87654321  # Dataset.random's global seed without tf.random.set_seed


@pytest.fixture(scope="module")
def t5p():
    """t5's preprocessors: the reference of the peer comparisons."""
    return _import("t5.data.preprocessors")


def documents(n=300, seed=0, dtype=np.int32, long_docs=0):
    rng = np.random.default_rng(seed)
    sizes = rng.choice([0, 1, 2, 3, 10, 50, 200, 700], size=n)
    docs = [rng.integers(0, 400, size=s).astype(dtype) for s in sizes]  # zeros included
    docs += [rng.integers(1, 400, size=70000 + 30000 * i).astype(dtype) for i in range(long_docs)]
    return docs


def dataset(docs, with_ids=False):
    dtype = tf.as_dtype(docs[0].dtype)

    def gen():
        for i, d in enumerate(docs):
            yield {"targets": d, "id": str(i)} if with_ids else {"targets": d}

    spec = {"targets": tf.TensorSpec([None], dtype)}
    if with_ids:
        spec["id"] = tf.TensorSpec([], tf.string)
    return tf.data.Dataset.from_generator(gen, output_signature=spec)


def build(fn, seed, *args, **kwargs):
    """``fn`` applied under ``map_seed_manager(seed)``; and the next map seed."""
    with seqio.utils.map_seed_manager(seed):
        ds = fn(*args, **kwargs)
        return ds, seqio.utils._NEXT_MAP_SEED


def records(ds):
    return list(ds.as_numpy_iterator())


def assert_same_records(a, b):
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        assert list(x) == list(y), i
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=f"record {i}, {k}")
            assert np.asarray(x[k]).dtype == np.asarray(y[k]).dtype


def assert_same_datasets(a, b):
    assert a.element_spec == b.element_spec
    assert_same_records(records(a), records(b))


# --- tf_mlm.t5's own behaviour (seqio, no t5) -------------------------------------------------


def pieces_of(docs, tokens_length):
    """span_corruption's chunk, concatenation and split, in NumPy (documents
    shorter than a chunk)."""
    kept = [d for d in docs if len(d)]
    out = []
    for b in range(0, len(kept), 128):
        merged = np.concatenate(kept[b : b + 128])
        merged = merged[merged != 0]
        out += [merged[s : s + tokens_length] for s in range(0, len(merged), tokens_length)]
    return out


def seqio_seeds(seed, n):
    """The ``n`` first seeds of the seeded map that took ``seed`` from seqio."""
    streams = [tf.data.Dataset.random(s).take(n) for s in (seed, seed + 1)]
    return np.stack([np.fromiter(s.as_numpy_iterator(), np.int64, n) for s in streams], 1)


def test_span_corruption_is_the_kernel_with_seqios_seeds():
    docs = documents(300, seed=1)
    ds, next_seed = build(ours.span_corruption, 40, dataset(docs), LENGTHS, FEATURES)
    assert next_seed == 46  # three seeded maps, as t5's
    tokens_length, _ = ours.random_spans_helper(64, 0.15, 3.0, 1, 1)
    pieces = pieces_of(docs, tokens_length)
    seeds = seqio_seeds(40 + 4, len(pieces))  # denoise is the third seeded map
    tokens = tf.ragged.constant(pieces, dtype=tf.int32)
    import tf_mlm

    expected = tf_mlm.span_corruption(tokens, seeds, vocab_size=32100)
    got = records(ds)
    assert len(got) == len(pieces)
    for i, record in enumerate(got):
        assert record["inputs"].tolist() == expected.inputs[i].numpy().tolist()
        assert record["targets"].tolist() == expected.targets[i].numpy().tolist()


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_element_spec_and_determinism(dtype):
    docs = documents(200, seed=2, dtype=dtype)
    a, _ = build(ours.span_corruption, 5, dataset(docs), LENGTHS, FEATURES)
    b, _ = build(ours.span_corruption, 5, dataset(docs), LENGTHS, FEATURES)
    c, _ = build(ours.span_corruption, 6, dataset(docs), LENGTHS, FEATURES)
    spec = tf.TensorSpec([None], tf.as_dtype(dtype))
    assert a.element_spec == {"inputs": spec, "targets": spec}
    assert_same_datasets(a, b)
    assert [r["inputs"].tolist() for r in records(a)] != [r["inputs"].tolist() for r in records(c)]


def test_inputs_fit_the_sequence_length():
    docs = documents(300, seed=3)
    ds, _ = build(ours.span_corruption, 1, dataset(docs), {"inputs": 512, "targets": 114}, FEATURES)
    got = records(ds)
    assert all(len(r["inputs"]) <= 511 and len(r["targets"]) <= 113 for r in got)
    assert max(len(r["inputs"]) for r in got) == 511  # a full piece: 568 tokens


def test_passthrough_without_merging():
    docs = documents(100, seed=4)
    ds, _ = build(
        ours.span_corruption, 9, dataset(docs, with_ids=True), LENGTHS, FEATURES,
        merge_examples_to_reduce_padding=False, passthrough_feature_keys=["id"],
    )  # fmt: skip
    assert list(ds.element_spec) == ["inputs", "targets", "id"]
    assert ds.element_spec["id"] == tf.TensorSpec([], tf.string)
    ids = [int(r["id"]) for r in records(ds)]
    assert ids == sorted(ids) and set(ids) == {i for i, d in enumerate(docs) if len(d)}


@pytest.mark.parametrize("roll", [False, True])
def test_batched_denoise_equals_the_per_example_path(roll):
    pieces = dataset(documents(150, seed=5))
    fused_fn = functools.partial(ours.random_spans_noise_mask, mean_noise_span_length=2.0,
                                 random_roll=roll)  # fmt: skip

    def per_example_fn(length, density, seeds):  # not recognized: mapped one example at a time
        return fused_fn(length, density, seeds)

    kwargs = dict(
        noise_density=0.3,
        inputs_fn=ours.noise_span_to_unique_sentinel,
        targets_fn=ours.nonnoise_span_to_unique_sentinel,
    )
    pieces = pieces.filter(lambda x: tf.size(x["targets"]) > 0)
    a, _ = build(ours.denoise, 3, pieces, FEATURES, noise_mask_fn=fused_fn, **kwargs)
    b, _ = build(ours.denoise, 3, pieces, FEATURES, noise_mask_fn=per_example_fn, **kwargs)
    assert_same_datasets(a, b)


def test_denoise_targets_fn_none_keeps_the_tokens():
    docs = [d for d in documents(50, seed=6) if len(d)]
    ds, _ = build(
        ours.denoise, 0, dataset(docs), FEATURES, noise_density=0.15,
        noise_mask_fn=ours.random_spans_noise_mask, inputs_fn=ours.noise_span_to_unique_sentinel,
    )  # fmt: skip
    assert [r["targets"].tolist() for r in records(ds)] == [d.tolist() for d in docs]


@pytest.mark.parametrize("seed_dtype", [tf.int32, tf.int64])
@pytest.mark.parametrize("roll", [False, True])
def test_random_spans_noise_mask_matches_the_oracle(seed_dtype, roll):
    rng = np.random.default_rng(7)
    for length in list(range(0, 30)) + [190, 568]:
        high = 2**31 if seed_dtype == tf.int32 else 2**62
        seeds = rng.integers(-high, high, size=(2, 2)).astype(seed_dtype.as_numpy_dtype)
        got = ours.random_spans_noise_mask(length, 0.3, tf.constant(seeds), 2.0, roll)
        assert got.numpy().tolist() == oracle_mask(length, 0.3, seeds, 2.0, roll).tolist()


def test_sentinels_of_one_example():
    tokens = tf.constant([10, 11, 12, 13, 14, 15, 16])
    mask = tf.constant([False, True, True, False, True, False, False])
    vocab = seqio.PassThroughVocabulary(size=100)
    inputs = ours.noise_span_to_unique_sentinel(tokens, mask, vocab, seeds=None)
    targets = ours.nonnoise_span_to_unique_sentinel(tokens, mask, vocab, seeds=None)
    assert inputs.numpy().tolist() == [10, 99, 13, 98, 15, 16]
    assert targets.numpy().tolist() == [99, 11, 12, 98, 14, 97]
    as_uint = ours.noise_span_to_unique_sentinel(tf.cast(tokens, tf.uint16), mask, vocab, None)
    assert as_uint.numpy().tolist() == [10, 99, 13, 98, 15, 16]


def test_errors():
    docs = dataset(documents(10))
    with pytest.raises(ValueError, match="targets length"):
        ours.span_corruption(docs, {"inputs": 512, "targets": 100}, FEATURES)
    with pytest.raises(ValueError, match="passthrough"):
        ours.span_corruption(docs, LENGTHS, FEATURES, passthrough_feature_keys=["id"])
    with pytest.raises(ValueError, match="passthrough keys cannot"):
        ours.denoise(
            docs, FEATURES, 0.15, ours.random_spans_noise_mask,
            ours.noise_span_to_unique_sentinel, passthrough_feature_keys=["targets"],
        )  # fmt: skip
    other = {
        "inputs": seqio.Feature(seqio.PassThroughVocabulary(size=5)),
        "targets": FEATURES["targets"],
    }
    with pytest.raises(ValueError, match="vocabularies"):
        ours.denoise(docs, other, 0.15, ours.random_spans_noise_mask,
                     ours.noise_span_to_unique_sentinel)  # fmt: skip
    with pytest.raises(NotImplementedError):
        ours.random_prefix_noise_mask(10, 0.6, [[1, 2]])
    with pytest.raises(tf.errors.InvalidArgumentError):
        ours.random_spans_noise_mask(10, 0.9, tf.constant([[1, 2], [3, 4]]), 1.0)
    with pytest.raises(ValueError, match="max_length"):
        ours.select_random_chunk(docs, FEATURES)


# --- element for element against t5 0.9.4 -----------------------------------------------------


def t5_or_error(fn):
    try:
        return fn().numpy()
    except tf.errors.InvalidArgumentError:
        return "InvalidArgumentError"


@pytest.mark.parametrize("seed_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("roll", [False, True])
def test_random_spans_noise_mask_vs_t5(t5p, seed_dtype, roll):
    rng = np.random.default_rng([seed_dtype().itemsize, roll])
    high = 2**31 if seed_dtype == np.int32 else 2**63
    cases = 0
    for density in (0.0, 0.15, 0.3, 0.5, 0.99):
        for mean in (1.0, 2.0, 3.0, 4.5):
            for length in list(range(0, 25)) + [70, 190, 350, 568]:
                seeds = tf.constant(rng.integers(-high, high, size=(2, 2)).astype(seed_dtype))
                args = (length, density, seeds, mean, roll)
                expected = t5_or_error(lambda: t5p.random_spans_noise_mask(*args))
                got = t5_or_error(lambda: ours.random_spans_noise_mask(*args))
                assert np.array_equal(got, expected), args
                cases += 1
    assert cases == 5 * 4 * 29


def test_sentinels_vs_t5(t5p):
    rng = np.random.default_rng(11)
    for length in range(0, 40):
        tokens = tf.constant(rng.integers(2, 1000, size=length), tf.int32)
        mask = tf.constant(rng.random(length) < rng.random(), tf.bool)
        for name in ("noise_span_to_unique_sentinel", "nonnoise_span_to_unique_sentinel"):
            expected = getattr(t5p, name)(tokens, mask, VOCAB, seeds=None).numpy()
            got = getattr(ours, name)(tokens, mask, VOCAB, seeds=None).numpy()
            np.testing.assert_array_equal(got, expected)


def test_random_prefix_noise_mask_vs_t5(t5p):
    rng = np.random.default_rng(12)
    for length in range(2, 60):
        for density in (0.0, 0.1, 0.25, 0.5):
            seeds = tf.constant(rng.integers(-(2**31), 2**31, size=(1, 2)), tf.int32)
            expected = t5p.random_prefix_noise_mask(length, density, seeds).numpy()
            got = ours.random_prefix_noise_mask(length, density, seeds).numpy()
            np.testing.assert_array_equal(got, expected)


def test_random_spans_helper_vs_t5(t5p):
    for inputs_length in list(range(2, 200)) + [256, 512, 568, 1024, 2048]:
        for density in (0.05, 0.15, 0.3, 0.35, 0.5):
            for mean in (1.0, 3.0, 8.0):
                for extra in ((1, 1), (0, 2)):
                    args = (inputs_length, density, mean, *extra)
                    assert ours.random_spans_helper(*args) == t5p.random_spans_helper(*args)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(max_length=7),
        dict(max_length=65536),
        dict(max_length=5, uniform_random_start=True),
        dict(max_length=9, min_length=3),
        dict(sequence_length={"targets": 8}),
        dict(max_length=6, passthrough_feature_keys=["id"]),
    ],
)
def test_select_random_chunk_vs_t5(t5p, kwargs):
    ds = dataset(documents(200, seed=13, long_docs=1), with_ids=True)
    a, na = build(t5p.select_random_chunk, 21, ds, FEATURES, **kwargs)
    b, nb = build(ours.select_random_chunk, 21, ds, FEATURES, **kwargs)
    assert na == nb
    assert_same_datasets(b, a)


def test_reduce_concat_and_split_tokens_vs_t5(t5p):
    ds = dataset(documents(300, seed=14), with_ids=True)
    for kwargs in (dict(batch_size=128), dict(batch_size=7)):
        assert_same_datasets(
            ours.reduce_concat_tokens(ds, **kwargs), t5p.reduce_concat_tokens(ds, **kwargs)
        )
    for kwargs in (
        dict(max_tokens_per_segment=13),
        dict(max_tokens_per_segment=30, min_tokens_per_segment=4),
        dict(max_tokens_per_segment=5, passthrough_feature_keys=["id"]),
    ):
        a, na = build(t5p.split_tokens, 8, ds, **kwargs)
        b, nb = build(ours.split_tokens, 8, ds, **kwargs)
        assert na == nb
        assert_same_datasets(b, a)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(noise_density=0.3, mean_noise_span_length=2.0),
        dict(noise_density=0.5, mean_noise_span_length=1.5, reserved_for_packing=3),
        dict(merge_examples_to_reduce_padding=False, passthrough_feature_keys=["id"]),
        dict(merge_examples_to_reduce_padding=False, dtype=np.int64),
        dict(long_docs=2),
    ],
)
def test_span_corruption_vs_t5(t5p, kwargs):
    kwargs = dict(kwargs)
    docs = documents(
        300, seed=15, dtype=kwargs.pop("dtype", np.int32), long_docs=kwargs.pop("long_docs", 0)
    )
    ds = dataset(docs, with_ids="passthrough_feature_keys" in kwargs)
    lengths = {"inputs": 64, "targets": 64}
    a, na = build(t5p.span_corruption, 100, ds, lengths, FEATURES, **kwargs)
    b, nb = build(ours.span_corruption, 100, ds, lengths, FEATURES, **kwargs)
    assert na == nb
    assert_same_datasets(b, a)


def test_without_a_map_seed_the_seeds_are_fresh():
    ds = dataset(documents(50, seed=16))
    a = records(ours.span_corruption(ds, LENGTHS, FEATURES))
    b = records(ours.span_corruption(ds, LENGTHS, FEATURES))
    assert [r["inputs"].tolist() for r in a] != [r["inputs"].tolist() for r in b]


def test_a_global_seed_changes_both_alike(t5p):
    ds = dataset(documents(100, seed=17))
    tf.random.set_seed(1234)
    try:
        a, _ = build(t5p.span_corruption, 3, ds, LENGTHS, FEATURES)
        b, _ = build(ours.span_corruption, 3, ds, LENGTHS, FEATURES)
        assert_same_datasets(b, a)
    finally:
        tf.random.set_seed(None)


@pytest.mark.parametrize("merge", [True, False])
def test_a_global_seed_without_a_map_seed_gives_t5s_records(t5p, merge):
    # No map seed: each seeded map's Dataset.random(seed=None) takes its
    # seeds from TensorFlow's global seed and op seed counter.
    ds = dataset(documents(300, seed=18))
    built = {}
    try:
        for name, module in (("t5", t5p), ("ours", ours)):
            tf.random.set_seed(99)  # resets the op seed counter too
            built[name] = module.span_corruption(
                ds, LENGTHS, FEATURES, merge_examples_to_reduce_padding=merge
            )
    finally:
        tf.random.set_seed(None)
    assert_same_datasets(built["ours"], built["t5"])


def _register(name, preprocessor, docs):
    seqio.TaskRegistry.remove(name)
    return seqio.TaskRegistry.add(
        name,
        source=seqio.FunctionDataSource(
            lambda split, shuffle_files, seed=None: dataset(docs), ["train"]
        ),
        preprocessors=[preprocessor, seqio.preprocessors.append_eos_after_trim],
        output_features=FEATURES,
        metric_fns=[],
    )


def test_in_a_seqio_task_vs_t5(t5p):
    docs = documents(300, seed=18)
    lengths = {"inputs": 128, "targets": 32}
    results = []
    for name, module in (("t5", t5p), ("tf_mlm", ours)):
        task = _register(f"span_corruption_{name}", module.span_corruption, docs)
        ds = task.get_dataset(lengths, split="train", shuffle=False, seed=77)
        results.append(ds)
    assert_same_datasets(results[1], results[0])
    assert len(records(results[0])) > 50


def test_split_tokens_fails_rather_than_cut_a_tail_float32_cannot_count():
    # 2**24 + 1 tokens in pieces of 1: float32 counts 2**24 pieces, one
    # short. t5 fails on the leftover token; tf_mlm.t5 fails too.
    tokens = tf.zeros([2**24 + 1], tf.int32)
    ds = tf.data.Dataset.from_tensors({"targets": tokens})
    with seqio.utils.map_seed_manager(3):
        pieces = ours.split_tokens(ds, max_tokens_per_segment=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="do not cover its tokens"):
        next(iter(pieces))


def test_a_feature_named_length_is_just_a_feature():
    # The batched path must not read a user's `length` feature as anything.
    docs = [d for d in documents(60, seed=8) if len(d)]
    plain = dataset(docs)
    with_length = plain.map(lambda x: {**x, "length": tf.constant([1, 2, 3])})
    kwargs = dict(
        noise_density=0.15,
        noise_mask_fn=ours.random_spans_noise_mask,
        inputs_fn=ours.noise_span_to_unique_sentinel,
        targets_fn=ours.nonnoise_span_to_unique_sentinel,
    )
    a, _ = build(ours.denoise, 5, plain, FEATURES, **kwargs)
    b, _ = build(ours.denoise, 5, with_length, FEATURES, **kwargs)
    assert_same_datasets(a, b)


@pytest.mark.parametrize(
    "name",
    ["split_tokens_to_inputs_length", "split_tokens_to_targets_length"],
)
@pytest.mark.parametrize("add_eos", [True, False])
def test_split_tokens_to_a_length_vs_t5(t5p, name, add_eos):
    ds = dataset(documents(120, seed=15))
    features = {k: seqio.Feature(VOCAB, add_eos=add_eos) for k in ("inputs", "targets")}
    a, na = build(getattr(t5p, name), 9, ds, LENGTHS, features)
    b, nb = build(getattr(ours, name), 9, ds, LENGTHS, features)
    assert na == nb
    assert_same_datasets(b, a)
