"""Batching for :mod:`tf_mlm.hf`: examples padded into the batch that
transformers' collator builds (``tokenizer.pad`` for dicts, its collate
functions for id sequences), the usual keys padded in C++ by the padding
MLMCollator uses (:mod:`tf_mlm._shared.batching`) instead of the tokenizer's
per-token Python.

transformers is imported when needed (``require_transformers``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tf_mlm._shared.batching import convert_batch, pad_rows, padded_width

EXTRA_HINT = 'pip install "tf_mlm[hf]"'


def require_transformers():
    """The transformers module, or ImportError naming the extra that installs it."""
    try:
        import transformers
    except ImportError as e:
        raise ImportError(
            f"tf_mlm.hf needs transformers (>= 5), which is not installed: {EXTRA_HINT}"
        ) from e
    return transformers


def as_numpy(x) -> np.ndarray:
    """A NumPy view of an array or (CPU) torch tensor, else an array of it."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy") and hasattr(x, "detach"):
        return x.detach().numpy()
    return np.asarray(x)


to_tensors = convert_batch  # "pt": torch tensors sharing the arrays' memory; "np": as it is


def collate_features(examples, tokenizer, pad_to_multiple_of, return_tensors) -> dict:
    """The padded batch transformers' collator masks: ``{"input_ids": ...}``
    for id sequences, the ``BatchEncoding`` of ``tokenizer.pad`` for dicts
    (their ``offset_mapping`` padded with zeros, aligned with the ids,
    whatever the examples' lengths)."""
    if not isinstance(examples[0], Mapping):
        ids = pad_ids(examples, tokenizer, pad_to_multiple_of, return_tensors)
        return to_tensors({"input_ids": ids}, return_tensors)
    offsets = None
    if "offset_mapping" in examples[0]:
        offsets = [f["offset_mapping"] for f in examples]
        examples = [{k: v for k, v in f.items() if k != "offset_mapping"} for f in examples]
    batch = pad_encodings(tokenizer, examples, pad_to_multiple_of, return_tensors)
    if batch is None:
        from transformers.data.data_collator import pad_without_fast_tokenizer_warning

        batch = pad_without_fast_tokenizer_warning(
            tokenizer,
            examples,
            return_tensors=return_tensors,
            pad_to_multiple_of=pad_to_multiple_of,
        )
    if offsets is not None:
        width = batch["input_ids"].shape[1]
        padded = pad_offsets(offsets, width, tokenizer.padding_side)
        batch["offset_mapping"] = to_tensors({"o": padded}, return_tensors)["o"]
    return batch


def pad_ids(examples, tokenizer, pad_to_multiple_of, return_tensors) -> np.ndarray:
    """Id sequences (lists, arrays, tensors) as one [batch, length] array,
    padded as transformers pads them (the tokenizer's pad id and side; lists
    become int64, and with ``"pt"`` arrays too; tensors keep their dtype)."""
    to_int64 = isinstance(examples[0], (list, tuple)) or (
        return_tensors == "pt" and isinstance(examples[0], np.ndarray)
    )
    arrays = [np.asarray(e, dtype=np.int64) if to_int64 else as_numpy(e) for e in examples]
    first = len(arrays[0])
    if all(len(a) == first for a in arrays) and (
        pad_to_multiple_of is None or first % pad_to_multiple_of == 0
    ):
        return np.stack(arrays, axis=0)
    if tokenizer.pad_token is None:
        raise ValueError(
            "You are attempting to pad samples but the tokenizer you are using"
            f" ({tokenizer.__class__.__name__}) does not have a pad token."
        )
    width = padded_width(max(len(a) for a in arrays), pad_to_multiple_of)
    return pad_rows(arrays, width, tokenizer.pad_token_id, arrays[0].dtype, tokenizer.padding_side)


# The keys tokenizer.pad pads, and their fill (None: the pad id).
PAD_FILL = {
    "input_ids": None,
    "token_type_ids": "type",
    "attention_mask": 0,
    "special_tokens_mask": 1,
}


def pad_encodings(tokenizer, features, pad_to_multiple_of, return_tensors="np"):
    """What ``tokenizer.pad(features, pad_to_multiple_of=...,
    return_tensors=...)`` returns, for the usual case: dicts of the same keys,
    those among :data:`PAD_FILL` holding 1-D integer sequences of one length
    per example, a tokenizer whose main input is ``input_ids``, with an
    attention mask and a pad id. Other keys (labels such as
    ``next_sentence_label``) are left unpadded and converted as the
    tokenizer converts them. None otherwise (the caller then asks the
    tokenizer). The same keys in the same order (``attention_mask``
    appended when missing), fills, padding side and dtypes, without the
    tokenizer's per-token Python."""
    keys = list(features[0].keys())
    names = tokenizer.model_input_names
    if (
        not names
        or names[0] != "input_ids"
        or "attention_mask" not in names
        or tokenizer.pad_token_id is None
        or "input_ids" not in keys
    ):
        return None
    columns = {}
    for key in keys:
        column = []
        for f in features:
            if not isinstance(f, Mapping) or len(f) != len(keys) or key not in f:
                return None
            column.append(f[key])
        columns[key] = column
    padded = _pad_columns(tokenizer, columns, pad_to_multiple_of)
    if padded is None:
        return None
    padded = to_tensors(padded, return_tensors)
    extras = {k: columns[k] for k in keys if k not in PAD_FILL}
    if extras:
        extras = _convert_extras(extras, columns["input_ids"][0], return_tensors)
    order = keys + ["attention_mask"] * ("attention_mask" not in keys)
    from transformers import BatchEncoding

    return BatchEncoding({k: padded[k] if k in padded else extras[k] for k in order})


def _pad_columns(tokenizer, columns: dict, pad_to_multiple_of):
    """The columns of :data:`PAD_FILL`'s keys padded into int64 [batch,
    width] arrays (``attention_mask`` made when missing), or None when one
    is not 1-D integer rows of the lengths of ``input_ids``."""
    keys = [k for k in columns if k in PAD_FILL]
    try:
        lengths = [len(a) for a in columns["input_ids"]]
        if any([len(a) for a in columns[k]] != lengths for k in keys):
            return None
    except TypeError:  # a row without a length (a number)
        return None
    width = padded_width(max(lengths, default=0), pad_to_multiple_of)
    fills = dict(
        PAD_FILL, input_ids=tokenizer.pad_token_id, token_type_ids=tokenizer.pad_token_type_id
    )
    shape, side = (len(lengths), width), tokenizer.padding_side
    padded = {k: np.empty(shape, np.int64) for k in keys + ["attention_mask"]}
    mask = None if "attention_mask" in columns else padded["attention_mask"]
    try:
        for key in keys:
            mask_out = mask if key == "input_ids" else None
            pad_rows(
                columns[key],
                width,
                fills[key],
                padding_side=side,
                out=padded[key],
                mask_out=mask_out,
                integers_only=True,
            )
    except (TypeError, ValueError):  # rows of floats, strings, more dimensions
        return None
    return padded


def _convert_extras(extras: dict, first_ids, return_tensors) -> dict:
    """Keys ``tokenizer.pad`` does not pad, converted as it converts them:
    to Python objects first when the ids are arrays or tensors, then by
    ``BatchEncoding``."""
    from transformers import BatchEncoding
    from transformers.utils import to_py_obj

    if not isinstance(first_ids, (list, tuple)):
        extras = {k: to_py_obj(v) for k, v in extras.items()}
    return dict(BatchEncoding(extras, tensor_type=return_tensors))


def pad_offsets(offsets, width, padding_side) -> np.ndarray:
    """The examples' ``offset_mapping`` ((start, end) per token, lists, arrays
    or tensors of any lengths) as an int64 [batch, width, 2] array aligned
    with the padded ids; 0 on the padding (special tokens, never words)."""
    rows = [np.asarray(as_numpy(o), dtype=np.int64).reshape(-1, 2) for o in offsets]
    for a in rows:
        if a.shape[0] > width:
            raise ValueError(
                f"an example's offset_mapping has {a.shape[0]} entries, more than the "
                f"{width} tokens of the padded batch"
            )
    # (start, end) pairs as rows of 2 * length ints, padded to 2 * width
    flat = pad_rows([a.reshape(-1) for a in rows], 2 * width, 0, np.int64, padding_side)
    return flat.reshape(len(rows), width, 2)
