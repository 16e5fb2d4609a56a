"""The padding MLMCollator and tf_mlm.hf share (tf_mlm._shared.batching over
_core.pad_sequences): either side, pad_to_multiple_of, fills, dtypes, the
attention mask, rows of every kind, and the argument checks; compared with
the NumPy loop tf_mlm.hf padded with before."""

from __future__ import annotations

import types

import numpy as np
import pytest

from tf_mlm import _core
from tf_mlm._shared import batching as _batching
from tf_mlm._shared import hf_padding as _hf_padding
from tf_mlm._shared.batching import pad_rows, padded_width

SIDES = ["right", "left"]
DTYPES = [
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
    np.bool_,
]


def reference(rows, width, fill, dtype, side):
    """The NumPy loop tf_mlm.hf padded with (``_fill``), and its mask."""
    out = np.full((len(rows), width), fill, dtype=dtype)
    mask = np.zeros((len(rows), width), dtype=dtype)
    for row, m, a in zip(out, mask, rows):
        a = np.asarray(a)
        if side == "right":
            row[: len(a)], m[: len(a)] = a, 1
        elif len(a):
            row[-len(a) :], m[-len(a) :] = a, 1
    return out, mask


def random_rows(rng, n, max_len=9, high=100):
    return [rng.integers(0, high, size=int(rng.integers(0, max_len + 1))) for _ in range(n)]


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pads_as_the_numpy_loop_on_either_side_in_every_dtype(side, dtype):
    rng = np.random.default_rng(0)
    fill = 0 if dtype is np.bool_ else 7
    for n in (0, 1, 5, 33):
        rows = [a.astype(dtype) for a in random_rows(rng, n, high=2 if dtype is np.bool_ else 100)]
        width = max((len(a) for a in rows), default=0) + int(rng.integers(0, 3))
        want, want_mask = reference(rows, width, fill, dtype, side)
        mask = np.full((n, width), 5, dtype)
        got = pad_rows(rows, width, fill, dtype, side, mask_out=mask)
        assert got.dtype == dtype and got.shape == (n, width)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(mask, want_mask)
        np.testing.assert_array_equal(pad_rows(rows, width, fill, dtype, side), want)


@pytest.mark.parametrize("side", SIDES)
def test_rows_of_every_kind_are_converted_as_numpy_converts_them(side):
    rows = [
        [1, 2, 3],  # Python ints, read directly
        (4, True),  # a tuple, a bool
        np.array([5, 6], np.int32),  # another dtype, cast
        np.arange(20)[::7],  # strided
        {"input_ids": np.array([8])},  # a dict's input_ids
        [np.int64(9), 10],  # NumPy scalars: NumPy converts
        [1.9, 2.5],  # floats: truncated, as numpy.asarray(row, int64)
        [],
    ]
    as_arrays = [np.asarray(r["input_ids"] if isinstance(r, dict) else r) for r in rows]
    for dtype in (np.int64, np.int32, np.float32, np.uint16):
        want, _ = reference([a.astype(dtype) for a in as_arrays], 4, 0, dtype, side)
        np.testing.assert_array_equal(pad_rows(rows, 4, 0, dtype, side), want)


def test_integers_only_refuses_what_numpy_does_not_read_as_integers():
    out = np.zeros((1, 3), np.int64)
    for row in ([1.5], np.array([1.0]), ["a"], [[1, 2]], [2**70], np.array([1 + 2j])):
        with pytest.raises((TypeError, ValueError)):
            pad_rows([row], 3, 0, out=out, integers_only=True)
    for row, want in (([True, 2], [1, 2, 0]), (np.array([1, 0], bool), [1, 0, 0]), ([], [0, 0, 0])):
        assert pad_rows([row], 3, 0, out=out, integers_only=True).tolist() == [want]
    assert pad_rows([[1.5]], 3, 0).tolist() == [[1, 0, 0]]  # without it: truncated
    with pytest.raises(TypeError, match="must hold integers"):  # even in a float batch
        pad_rows([np.array([1.5])], 3, 0, np.float64, integers_only=True)


@pytest.mark.parametrize(
    "longest, multiple, width",
    [(0, None, 0), (5, None, 5), (0, 8, 0), (5, 8, 8), (8, 8, 8), (9, 8, 16), (7, 1, 7)],
)
def test_padded_width(longest, multiple, width):
    assert padded_width(longest, multiple) == width


def test_writes_into_the_given_arrays():
    rows = [np.array([1, 2], np.int32), np.array([3], np.int32)]
    out, mask = np.full((2, 3), -1, np.int32), np.full((2, 3), -1, np.int32)
    assert pad_rows(rows, 3, 9, np.int64, "left", out=out, mask_out=mask) is out
    assert out.tolist() == [[9, 1, 2], [9, 9, 3]] and mask.tolist() == [[0, 1, 1], [0, 0, 1]]


def test_empty_batches_and_rows():
    assert pad_rows([], 4, 0).shape == (0, 4)
    assert pad_rows((), 0, 0, np.int32).shape == (0, 0)
    mask = np.empty((2, 0), np.int64)
    assert pad_rows([[], np.zeros(0, np.int64)], 0, 3, mask_out=mask).shape == (2, 0)
    assert pad_rows([[], []], 2, 3, padding_side="left").tolist() == [[3, 3], [3, 3]]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(padding_side="middle"), ValueError, "padding_side must be 'right' or 'left'"),
        (dict(width=1, out=np.zeros((2, 1), np.int64)), ValueError, "row 0 has 2 values, more"),
        (
            dict(width=1, out=np.zeros((2, 1), np.int64), padding_side="left"),
            ValueError,
            "row 0 has 2 values, more than the width 1",
        ),
        (dict(width=-1), ValueError, "width must be >= 0"),
        (dict(fill=2**40, out=np.zeros((2, 3), np.int32)), ValueError, "fill .* does not fit"),
        (dict(fill=-1, out=np.zeros((2, 3), np.uint8)), ValueError, "does not fit the dtype"),
        (dict(fill=2**64), TypeError, "incompatible function arguments"),
        (dict(out=np.zeros((2, 3), np.complex64)), TypeError, "bool, integer or floating"),
        (dict(out=np.zeros((2, 3), ">i8")), TypeError, "native byte order"),
        (dict(out=np.zeros((2, 3), object)), TypeError, "bool, integer or floating"),
        (dict(out=np.zeros((3, 2), np.int64)), ValueError, r"out must have shape \(2, 3\)"),
        (dict(out=np.zeros((3, 2), np.int64).T), ValueError, "C-contiguous"),
        (dict(out=[[0] * 3] * 2), TypeError, "out must be a NumPy array"),
        (dict(mask_out=np.zeros((2, 3), np.int32)), TypeError, "mask_out must have dtype int64"),
        (dict(mask_out=np.zeros((2, 4), np.int64)), ValueError, "mask_out must have shape"),
        (dict(rows=np.arange(3)), TypeError, "sequences must be a list or tuple"),
        (dict(rows=[[1], {"ids": [1]}]), TypeError, r"sequences\[1\] is a dict without"),
        (dict(rows=[[1], np.zeros((1, 1))]), ValueError, r"sequences\[1\] must be 1-D"),
        (dict(rows=[[1], 5]), ValueError, r"sequences\[1\] must be 1-D"),
        (dict(rows=[[1], [[1, 2], [3]]]), ValueError, "inhomogeneous"),
        (dict(rows=[[1], [2**40]], out=np.zeros((2, 3), np.int32)), OverflowError, "int32"),
    ],
)
def test_core_checks_every_argument(kwargs, error, match):
    args = dict(rows=[[1, 2], [3]], width=3, fill=0, out=np.zeros((2, 3), np.int64))
    args.update(kwargs)
    rows = args.pop("rows")
    with pytest.raises(error, match=match):
        _core.pad_sequences(rows, args.pop("width"), args.pop("fill"), **args)


def test_outputs_must_not_overlap_the_rows_or_each_other():
    out = np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError, match="out must not overlap"):
        _core.pad_sequences([out[1], [1]], 3, 0, out)
    with pytest.raises(ValueError, match="mask_out must not overlap"):
        _core.pad_sequences([[1], [1]], 3, 0, out, out)
    frozen = np.zeros((2, 3), np.int64)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        _core.pad_sequences([[1], [1]], 3, 0, frozen)


def test_the_collator_and_hf_share_it():
    from tf_mlm import collator

    assert collator.pad_rows is _batching.pad_rows
    assert collator.result_labels is _batching.result_labels
    assert collator.LABEL_IGNORE == _batching.LABEL_IGNORE == -100
    assert _hf_padding.pad_rows is _batching.pad_rows
    assert _hf_padding.to_tensors is _batching.convert_batch


def fake_tokenizer(side, pad_token="[PAD]"):
    return types.SimpleNamespace(pad_token=pad_token, pad_token_id=0, padding_side=side)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("multiple", [None, 4])
def test_hf_pad_ids_keeps_the_examples_dtype(side, multiple):
    rng = np.random.default_rng(3)
    rows = random_rows(rng, 6, max_len=7)
    width = padded_width(max(len(r) for r in rows), multiple)
    for examples, dtype in (
        ([r.tolist() for r in rows], np.int64),
        ([r.astype(np.int32) for r in rows], np.int32),
        ([r.astype(np.uint16) for r in rows], np.uint16),
    ):
        got = _hf_padding.pad_ids(examples, fake_tokenizer(side), multiple, "np")
        want, _ = reference(examples, width, 0, dtype, side)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="does not have a pad token"):
        _hf_padding.pad_ids([[1], [1, 2]], fake_tokenizer(side, None), None, "np")


@pytest.mark.parametrize("side", SIDES)
def test_hf_pad_offsets(side):
    offsets = [[(0, 1), (1, 3)], np.array([[4, 5]]), np.zeros((0, 2), np.int32)]
    got = _hf_padding.pad_offsets(offsets, 3, side)
    assert got.dtype == np.int64 and got.shape == (3, 3, 2)
    want = np.zeros((3, 3, 2), np.int64)
    for row, o in zip(want, offsets):
        o = np.asarray(o).reshape(-1, 2)
        if len(o):
            (row[: len(o)] if side == "right" else row[-len(o) :])[...] = o
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="offset_mapping has 2 entries, more than the 1 tokens"):
        _hf_padding.pad_offsets(offsets, 1, side)
