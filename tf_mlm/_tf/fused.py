"""The fused masking kernel's one caller, and the kernel inputs of selectors
and choosers.

``tf_mlm.mask_language_model`` and the Keras layer both mask through
:func:`mask` (item selection, or SpanBERT spans). The inputs are read from
the selectors' and choosers' public properties and made once per object
(``_constants.cached``): the unselectable ids, the cap and rate, the span
parameters, and the value options with the replacement law's tables.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import tensorflow as tf

from tf_mlm._shared.args import is_int
from tf_mlm._tf import constants as _constants
from tf_mlm._tf import library as _library


def unselectable_ids(selector, dtype: tf.DType) -> tf.Tensor:
    """A selector's ``unselectable_ids`` (a list, or a 1-D Tensor) as a 1-D
    tensor of ``dtype``."""
    return _constants.cached(
        selector, ("unselectable", dtype), lambda: _as_vector(selector.unselectable_ids, dtype)
    )


def _as_vector(ids, dtype: tf.DType) -> tf.Tensor:
    if isinstance(ids, tf.Tensor):
        return tf.reshape(ids if ids.dtype == dtype else tf.cast(ids, dtype), [-1])
    if not ids:
        return tf.zeros([0], dtype)
    if dtype.is_integer and all(is_int(x) for x in ids):
        return tf.constant(ids, dtype)
    return tf.stack([tf.reshape(_as_dtype(x, dtype), []) for x in ids])


def _as_dtype(x, dtype: tf.DType) -> tf.Tensor:
    if isinstance(x, tf.Tensor):
        return x if x.dtype == dtype else tf.cast(x, dtype)
    return tf.convert_to_tensor(x, dtype)


def cap_and_rate(selector) -> Tuple[tf.Tensor, tf.Tensor]:
    """The per-row cap (int64) and the selection rate (float32)."""
    return _constants.cached(
        selector,
        "cap_and_rate",
        lambda: (
            tf.cast(selector.max_selections_per_batch, tf.int64),
            tf.cast(selector.selection_rate, tf.float32),
        ),
    )


def span_inputs(owner, p, max_span_length) -> Tuple[tf.Tensor, tf.Tensor]:
    """The span kernel's ``p`` (float32) and ``max_span_length`` (int64),
    made once per ``owner`` (a ``SpanItemSelector``, the Keras layer)."""
    return _constants.cached(
        owner,
        "span_inputs",
        lambda: (tf.cast(p, tf.float32), tf.cast(max_span_length, tf.int64)),
    )


def value_inputs(chooser) -> Tuple[tuple, Dict[str, tf.Tensor]]:
    """A chooser's scalar kernel inputs (vocab_size, mask_token, the two
    rates) and its replacement law's tables (see :func:`replacement_tables`)."""
    scalars = _constants.cached(
        chooser,
        "value_scalars",
        lambda: (
            tf.cast(chooser.vocab_size, tf.int64),
            tf.cast(chooser.mask_token, tf.int64),
            tf.cast(chooser.mask_token_rate, tf.float32),
            tf.cast(chooser.random_token_rate, tf.float32),
        ),
    )
    return scalars, replacement_inputs(chooser)


def replacement_inputs(chooser) -> Dict[str, tf.Tensor]:
    """The chooser's replacement tables, built once, eagerly when possible
    (also when first asked inside a ``tf.function``), and captured as
    constants by every graph using them."""
    with tf.init_scope():
        built_eagerly = tf.executing_eagerly()
        tables = _constants.cached(
            chooser,
            "replacement",
            lambda: replacement_tables(
                chooser.vocab_size, chooser.excluded_ids, chooser.replacement_frequencies
            ),
        )
    if tf.executing_eagerly() or not built_eagerly:
        return tables
    # A graph cannot take the eager tensors as such: embed their values.
    return {k: tf.constant(v.numpy()) for k, v in tables.items()}


def uniform_replacement() -> Dict[str, tf.Tensor]:
    """Kernel inputs for the default law: uniform over ``[0, vocab_size)``."""
    return dict(
        excluded_ids=tf.zeros([0], tf.int64),
        alias_prob=tf.zeros([0], tf.float32),
        alias_index=tf.zeros([0], tf.int64),
    )


def replacement_tables(vocab_size, excluded_ids, frequencies) -> Dict[str, tf.Tensor]:
    """Normalised kernel inputs (the core's BuildReplacementTables): excluded
    ids sorted, unique and within the vocabulary; alias tables for the
    frequencies (excluded ids weighted 0). Sizes are checked when masking."""
    tables = _library.ops().tfmlm_build_replacement_tables(
        tf.cast(vocab_size, tf.int64),
        tf.zeros([0], tf.int64) if excluded_ids is None else tf.cast(excluded_ids, tf.int64),
        tf.zeros([0], tf.float32) if frequencies is None else tf.cast(frequencies, tf.float32),
        weighted=frequencies is not None,
    )
    return tables._asdict()


def mask_with(
    kind: str,
    selector,
    chooser,
    values: tf.Tensor,
    nested_splits,
    unselectable: tf.Tensor,
    seed: tf.Tensor,
    *,
    axis: int,
    output_length: Optional[int] = None,
) -> tuple:
    """:func:`mask` with an unmodified built-in selector's inputs: ``kind``
    ``"items"`` (a ``RandomItemSelector``, its ``selection_mode``) or
    ``"spans"`` (a ``SpanItemSelector``, its ``p`` and ``max_span_length``),
    as ``tf_mlm.text.masking`` decides for ``mask_language_model`` and the Keras
    layer."""
    cap, rate = cap_and_rate(selector)
    if kind == "spans":
        kernel = dict(spans=span_inputs(selector, selector.p, selector.max_span_length))
    else:
        kernel = dict(selection_mode=selector.selection_mode)
    return mask(
        values,
        nested_splits,
        unselectable,
        cap,
        rate,
        chooser,
        seed,
        axis=axis,
        output_length=output_length,
        **kernel,
    )


def mask(
    values: tf.Tensor,
    nested_splits,
    unselectable: tf.Tensor,
    cap: tf.Tensor,
    rate: tf.Tensor,
    chooser,
    seed: tf.Tensor,
    *,
    axis: int,
    selection_mode: str = "exact",
    spans: Optional[Tuple[tf.Tensor, tf.Tensor]] = None,
    output_length: Optional[int] = None,
) -> tuple:
    """One call of the fused kernel: item selection (``selection_mode``) or,
    with ``spans=(p, max_span_length)``, SpanBERT spans whose token budget
    is ``min(ceil(selectable tokens * rate), cap)``.

    Returns ``(new_values, positions, position_splits, ids)`` (ragged
    outputs) or, with ``output_length``, ``(new_values, positions, ids,
    weights)`` dense ``[rows, output_length]``.
    """
    scalars, replacement = value_inputs(chooser)
    args = (values, list(nested_splits), unselectable, cap, rate, *scalars, seed)
    attrs = dict(replacement, axis=axis)
    if output_length is not None:
        attrs["output_length"] = output_length
    ops = _library.ops()
    if spans is not None:
        op = ops.tfmlm_mask_spans if output_length is None else ops.tfmlm_mask_spans_dense
        return op(*args, **attrs, p=spans[0], max_span_length=spans[1])
    op = (
        ops.tfmlm_mask_language_model
        if output_length is None
        else ops.tfmlm_mask_language_model_dense
    )
    return op(*args, **attrs, selection_mode=selection_mode)


__all__ = [
    "cap_and_rate",
    "mask",
    "mask_with",
    "replacement_inputs",
    "replacement_tables",
    "span_inputs",
    "uniform_replacement",
    "unselectable_ids",
    "value_inputs",
]
