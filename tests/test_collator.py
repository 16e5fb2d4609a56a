"""tf_mlm.collator.MLMCollator against a plain re-implementation of its contract."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tf_mlm import numpy as mlm
from tf_mlm.collator import MLMCollator

OPTS = dict(vocab_size=400, mask_token=103, pad_token=0, unselectable_ids=[101, 102])


def random_examples(rng, n=24, max_len=50, dtype=np.int64, as_lists=False):
    out = []
    for _ in range(n):
        length = int(rng.integers(0, max_len + 1))
        ids = rng.integers(1, 400, size=length).astype(dtype)
        if length >= 2:
            ids[0], ids[-1] = 101, 102
        out.append(ids.tolist() if as_lists else ids)
    return out


def reference_collate(
    examples,
    seed_stream,
    *,
    selection_rate=0.15,
    max_selections=None,
    selection_mode="exact",
    pad_to_multiple_of=None,
    mask_selection_length=None,
    vocab_size=400,
    mask_token=103,
    pad_token=0,
    unselectable_ids=(101, 102),
    mask_token_rate=0.8,
    random_token_rate=0.1,
):
    """The collator's documented contract, written out with Python loops; the
    random decisions come from tf_mlm.numpy.mask_ragged with the seed the
    collator draws (two uint64 per call from its Generator)."""
    rows = [np.asarray(e["input_ids"] if isinstance(e, dict) else e) for e in examples]
    values = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    dtype = values.dtype
    splits = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    masked = mlm.mask_ragged(
        values.astype(dtype),
        splits,
        vocab_size=vocab_size,
        mask_token=mask_token,
        selection_rate=selection_rate,
        max_selections=max_selections,
        unselectable_ids=list(unselectable_ids) + [pad_token],
        mask_token_rate=mask_token_rate,
        random_token_rate=random_token_rate,
        selection_mode=selection_mode,
        seed=seed_stream,
        pad_to=mask_selection_length,
    )
    width = max((len(r) for r in rows), default=0)
    if pad_to_multiple_of:
        width = int(math.ceil(width / pad_to_multiple_of) * pad_to_multiple_of)
    input_ids = np.full((len(rows), width), pad_token, dtype)
    labels = np.full((len(rows), width), -100, dtype)
    attention = np.zeros((len(rows), width), dtype)
    for b, row in enumerate(rows):
        start = splits[b]
        for j in range(len(row)):
            input_ids[b, j] = masked.masked_values[start + j]
            attention[b, j] = 1
        if mask_selection_length is None:
            lo, hi = masked.masked_positions_row_splits[b : b + 2]
            recorded = zip(masked.masked_positions[lo:hi], masked.masked_ids[lo:hi])
        else:
            recorded = [
                (p, i)
                for p, i, w in zip(
                    masked.masked_positions[b], masked.masked_ids[b], masked.masked_weights[b]
                )
                if w
            ]
        for position, original in recorded:
            labels[b, position] = original
    out = {"input_ids": input_ids, "labels": labels, "attention_mask": attention}
    if mask_selection_length is not None:
        out.update(
            mask_positions=masked.masked_positions,
            mask_ids=masked.masked_ids,
            mask_weights=masked.masked_weights,
        )
    return out


def assert_batches_equal(got, expected):
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)


CASES = [
    dict(),
    dict(selection_rate=0.4, max_selections=3),
    dict(selection_mode="bernoulli", selection_rate=0.3),
    dict(pad_to_multiple_of=8),
    dict(pad_to_multiple_of=7, mask_selection_length=5, selection_rate=0.5),
    dict(mask_selection_length=0),
    dict(mask_token_rate=0.5, random_token_rate=0.5),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_matches_reference_implementation(case, dtype):
    rng = np.random.default_rng(1)
    collate = MLMCollator(seed=np.random.default_rng(42), **OPTS, **case)
    stream = np.random.default_rng(42)
    for _ in range(4):  # consecutive calls draw fresh seeds from the stream
        examples = random_examples(rng, dtype=dtype)
        assert_batches_equal(collate(examples), reference_collate(examples, stream, **case))


def test_inputs_lists_and_dicts():
    rng = np.random.default_rng(2)
    examples = random_examples(rng, as_lists=True)
    dicts = [{"input_ids": e, "token_type_ids": [0] * len(e)} for e in examples]
    a = MLMCollator(seed=5, **OPTS)(examples)
    b = MLMCollator(seed=5, **OPTS)(dicts)
    c = MLMCollator(seed=5, **OPTS)([np.array(e, np.int64) for e in examples])
    assert_batches_equal(a, reference_collate(examples, np.random.default_rng(5)))
    assert_batches_equal(b, a)
    assert_batches_equal(c, a)


@pytest.mark.parametrize("case", CASES)
def test_padded_fast_path_equals_general_path(case):
    # Lists go through the ragged path; exact 1-D ndarrays of one dtype (or
    # dicts of them) are padded first and masked in place as dense rows. The
    # batches must agree bit for bit, empty rows and width multiples included.
    rng = np.random.default_rng(12)
    examples = random_examples(rng, n=40, max_len=90)
    examples[3] = examples[3][:0]
    general = MLMCollator(seed=7, **OPTS, **case)([e.tolist() for e in examples])
    fast = MLMCollator(seed=7, **OPTS, **case)([{"input_ids": e} for e in examples])
    assert_batches_equal(fast, general)


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 40), min_size=1, max_size=12),
    dtype=st.sampled_from([np.int32, np.int64]),
    pad_token=st.sampled_from([0, 7]),
    rate=st.floats(0.0, 1.0),
    cap=st.one_of(st.none(), st.integers(0, 6)),
    mode=st.sampled_from(["exact", "bernoulli"]),
    multiple=st.sampled_from([None, 1, 5]),
    length=st.one_of(st.none(), st.integers(0, 8)),
    data_seed=st.integers(0, 2**31),
)
def test_padded_fast_path_equals_general_path_property(
    lengths, dtype, pad_token, rate, cap, mode, multiple, length, data_seed
):
    # Ids drawn from a small range so that the pad id and the unselectable
    # ids also occur inside the examples.
    rng = np.random.default_rng(data_seed)
    examples = [rng.integers(0, 12, size=n).astype(dtype) for n in lengths]
    opts = dict(
        vocab_size=12,
        mask_token=3,
        pad_token=pad_token,
        unselectable_ids=[1, 2],
        selection_rate=rate,
        max_selections=cap,
        selection_mode=mode,
        pad_to_multiple_of=multiple,
        mask_selection_length=length,
    )
    general = MLMCollator(seed=data_seed, **opts)([e.tolist() for e in examples])
    fast = MLMCollator(seed=data_seed, **opts)(examples)
    for key in general:
        np.testing.assert_array_equal(fast[key], general[key].astype(fast[key].dtype), err_msg=key)


def test_contract_properties_on_the_reference_batch():
    rng = np.random.default_rng(3)
    examples = random_examples(rng, n=64, max_len=300)
    batch = MLMCollator(max_selections=20, pad_to_multiple_of=16, seed=9, **OPTS)(examples)
    ids, labels, attention = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert ids.shape[1] % 16 == 0 and ids.shape[1] - 16 < max(len(e) for e in examples)
    original = np.zeros_like(ids)
    for b, e in enumerate(examples):
        original[b, : len(e)] = e
        assert attention[b, : len(e)].all() and not attention[b, len(e) :].any()
    selected = labels != -100
    assert not (selected & (attention == 0)).any()
    np.testing.assert_array_equal(labels[selected], original[selected])
    np.testing.assert_array_equal(ids[~selected], original[~selected])
    assert not np.isin(original[selected], [101, 102, 0]).any()
    for b, e in enumerate(examples):
        selectable = int(np.sum(~np.isin(e, [101, 102, 0])))
        expected = min(math.ceil(np.float32(selectable) * np.float32(0.15)), 20)
        assert selected[b].sum() == expected


def test_pad_token_inside_examples_is_never_selected():
    examples = [np.array([5, 0, 6, 0, 7])] * 50
    batch = MLMCollator(vocab_size=10, mask_token=1, pad_token=0, selection_rate=1.0, seed=0)(
        examples
    )
    assert (batch["labels"][:, [1, 3]] == -100).all()
    assert (batch["labels"][:, [0, 2, 4]] != -100).all()


def test_fresh_masks_per_call_and_reproducible_streams():
    rng = np.random.default_rng(4)
    examples = random_examples(rng, n=16, max_len=80)
    c1, c2 = (
        MLMCollator(seed=11, selection_rate=0.3, **OPTS),
        MLMCollator(seed=11, selection_rate=0.3, **OPTS),
    )
    first, second = c1(examples), c1(examples)
    assert not np.array_equal(first["labels"], second["labels"])
    assert_batches_equal(c2(examples), first)
    assert_batches_equal(c2(examples), second)


def test_bernoulli_collator_rate():
    # 200 rows of 300 selectable tokens at rate 0.15: binomial z-bound on the total
    examples = [np.arange(1000, 1300) % 400 + 1] * 200
    examples = [np.where(np.isin(e, [101, 102, 103]), 7, e) for e in examples]
    batch = MLMCollator(selection_mode="bernoulli", seed=3, **OPTS)(examples)
    per_row = (batch["labels"] != -100).sum(axis=1)
    n = 200 * 300
    z = (per_row.sum() - n * 0.15) / math.sqrt(n * 0.15 * 0.85)
    assert abs(z) < 5.5
    assert per_row.std() > 2  # exact mode would give 45 in every row


def test_empty_batch_and_empty_rows():
    batch = MLMCollator(seed=0, **OPTS)([])
    assert batch["input_ids"].shape == (0, 0)
    batch = MLMCollator(seed=0, pad_to_multiple_of=4, **OPTS)([[], []])
    assert batch["input_ids"].shape == (2, 0)
    assert batch["labels"].shape == (2, 0)


def test_return_tensors_jax():
    jnp = pytest.importorskip("jax.numpy")
    batch = MLMCollator(return_tensors="jax", seed=0, **OPTS)([[101, 5, 6, 102], [101, 7, 102]])
    assert all(isinstance(v, jnp.ndarray) for v in batch.values())
    ref = MLMCollator(seed=0, **OPTS)([[101, 5, 6, 102], [101, 7, 102]])
    for key, value in ref.items():
        np.testing.assert_array_equal(np.asarray(batch[key]), value)


def test_return_tensors_torch():
    try:
        import torch
    except ImportError:
        with pytest.raises(ImportError):
            MLMCollator(return_tensors="pt", seed=0, **OPTS)([[5, 6]])
        return
    batch = MLMCollator(return_tensors="pt", seed=0, **OPTS)([[101, 5, 6, 102], [101, 7, 102]])
    assert all(isinstance(v, torch.Tensor) for v in batch.values())
    assert batch["input_ids"].dtype == torch.int64


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(return_tensors="tf"), ValueError, "return_tensors"),
        (dict(pad_to_multiple_of=0), ValueError, "pad_to_multiple_of"),
        (dict(pad_to_multiple_of=2.0), TypeError, "pad_to_multiple_of"),
        (dict(mask_selection_length=-1), ValueError, "mask_selection_length"),
        (dict(selection_rate=-0.1), ValueError, "selection_rate"),
        (dict(mask_token_rate=0.9, random_token_rate=0.2), ValueError, "<= 1"),
        (dict(selection_mode="poisson"), ValueError, "selection_mode"),
        (dict(selection_rate=float("inf")), ValueError, "selection_rate"),
        (dict(seed="x"), TypeError, "seed"),
        (dict(seed=(1, 2)), TypeError, "seed"),
        (dict(unselectable_ids=[1.5]), TypeError, "unselectable_ids"),
    ],
)
def test_invalid_configuration(kwargs, error, match):
    args = dict(OPTS)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        MLMCollator(**args)


@pytest.mark.parametrize(
    "examples,error,match",
    [
        ([[1.5, 2.5]], TypeError, "sequences\\[0\\]"),
        ([np.array([1, 2], np.uint16)], TypeError, "sequences\\[0\\]"),
        ([{"ids": [1, 2]}], ValueError, "input_ids"),
        ([[[1], [2]]], ValueError, "1-D"),
        ([np.zeros((2, 2), np.int64)], ValueError, "1-D"),
        (5, TypeError, "examples"),
        (np.zeros((2, 3), np.int64), TypeError, "examples"),
    ],
)
def test_invalid_examples(examples, error, match):
    with pytest.raises(error, match=match):
        MLMCollator(seed=0, **OPTS)(examples)


def test_dropped_batches_are_recycled_and_kept_ones_never_touched():
    rng = np.random.default_rng(8)
    examples = random_examples(rng, n=32, max_len=60)
    collate = MLMCollator(**OPTS, seed=3)
    kept = collate(examples)
    snapshot = {k: v.copy() for k, v in kept.items()}
    row_view = collate(examples)["labels"][1]  # only a view of this batch survives
    view_snapshot = row_view.copy()
    first = collate(examples)
    address = first["input_ids"].ctypes.data
    del first
    second = collate(examples)
    # the dropped batch's memory is reused...
    assert second["input_ids"].ctypes.data == address
    for _ in range(5):
        collate(examples)
    # ...but what someone still references is never written again
    for k, v in kept.items():
        np.testing.assert_array_equal(v, snapshot[k])
    np.testing.assert_array_equal(row_view, view_snapshot)
    for k in ("input_ids", "labels", "attention_mask"):
        assert not np.shares_memory(second[k], kept[k])


def test_recycled_batches_equal_fresh_ones():
    # the same stream with and without recycling (a batch held every call
    # forces fresh arrays), over batches of changing width and dtype
    rng = np.random.default_rng(9)
    batches = [
        random_examples(rng, n=16, max_len=m, dtype=d)
        for m, d in [
            (40, np.int64),
            (40, np.int64),
            (70, np.int64),
            (20, np.int32),
            (20, np.int32),
            (40, np.int64),
        ]
    ]
    recycled, fresh = MLMCollator(**OPTS, seed=4), MLMCollator(**OPTS, seed=4)
    held = []
    for examples in batches:
        a = {k: v.copy() for k, v in recycled(examples).items()}
        held.append(fresh(examples))
        for k in a:
            np.testing.assert_array_equal(a[k], held[-1][k])
            assert a[k].dtype == held[-1][k].dtype


def test_collator_pickles_for_dataloader_workers():
    import pickle

    collate = MLMCollator(**OPTS, seed=5)
    examples = random_examples(np.random.default_rng(10))
    collate(examples)
    clone = pickle.loads(pickle.dumps(collate))
    a, b = collate(examples), clone(examples)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
