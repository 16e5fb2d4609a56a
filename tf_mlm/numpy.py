"""BERT masking on NumPy data, without TensorFlow.

The same C++ core as tf_mlm's TensorFlow ops, through the pybind11 module
``tf_mlm._core``. Importing this module never imports TensorFlow, so it
serves PyTorch ``DataLoader``s, JAX / Grain pipelines and Keras 3 on a
non-TensorFlow backend.

A batch is *ragged*: flat ``values`` plus ``row_splits`` (row ``b`` owns
``values[row_splits[b]:row_splits[b + 1]]``), or nested splits, outermost
first, for ``[batch, (words), (wordpieces)]`` whole-word masking. The helpers
[mask_sequences][tf_mlm.numpy.mask_sequences] and
[mask_padded][tf_mlm.numpy.mask_padded] take a list of sequences or a padded
2-D array instead.

Same semantics as [tf_mlm.mask_language_model][tf_mlm.mask_language_model] with the built-in
``RandomItemSelector`` and ``MaskValuesChooser``, and for the same seed the
very same masks: ``seed=s`` here equals ``seed=[s, 0]`` there, and
``seed=(a, b)`` equals ``seed=[a, b]``.

>>> import numpy as np
>>> from tf_mlm import numpy as mlm
>>> ids = np.array([101, 7, 8, 9, 102, 101, 5, 102])
>>> splits = np.array([0, 5, 8])
>>> r = mlm.mask_ragged(ids, splits, vocab_size=200, mask_token=103, selection_rate=1.0,
...                     unselectable_ids=[101, 102], mask_token_rate=1.0,
...                     random_token_rate=0.0, seed=0)
>>> r.masked_values
array([101, 103, 103, 103, 102, 101, 103, 102])
>>> r.masked_positions, r.masked_positions_row_splits, r.masked_ids
(array([1, 2, 3, 1]), array([0, 3, 4]), array([7, 8, 9, 5]))

The masking strategies of the README ("Masking strategies") have NumPy forms
too: whole words from a continuation table
([group_words][tf_mlm.numpy.group_words], then ``mask_ragged(..., axis=1)``),
SpanBERT spans ([mask_spans][tf_mlm.numpy.mask_spans], the same masks as a
``tf_mlm.SpanItemSelector`` for the same seed), and the replacement law of
``MaskValuesChooser`` (``excluded_ids=`` and ``replacement_frequencies=`` of
[mask_ragged][tf_mlm.numpy.mask_ragged] and
[mask_spans][tf_mlm.numpy.mask_spans], or tables built once with
[replacement_tables][tf_mlm.numpy.replacement_tables]).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from tf_mlm import _core
from tf_mlm._shared import seeds
from tf_mlm._shared.args import kernel_noise_density, splits_list, vector
from tf_mlm._shared.layouts import _unpad, ragged_from_padded, ragged_from_sequences
from tf_mlm._shared.seeds import philox_key as resolve_seed
from tf_mlm.options import (
    MASK_TOKEN_RATE,
    MAX_SPAN_LENGTH,
    RANDOM_TOKEN_RATE,
    SELECTION_RATE,
    SPAN_P,
    MaskingOptions,
    ReplacementTables,
    replacement_tables,
)
from tf_mlm.vocab import sentencepiece_continuation_table, wordpiece_continuation_table

__all__ = [
    "MaskResult",
    "ReplacementTables",
    "group_words",
    "mask_padded",
    "mask_ragged",
    "mask_sequences",
    "mask_spans",
    "mask_with_options",
    "ragged_from_padded",
    "ragged_from_sequences",
    "replacement_tables",
    "resolve_seed",
    "token_row_splits",
    "sentencepiece_continuation_table",
    "span_corruption",
    "SpanCorruptionResult",
    "wordpiece_continuation_table",
]


class MaskResult(NamedTuple):
    """Outputs of a masking call.

    Attributes:
      masked_values: the ids with the selected tokens replaced; same shape
        and dtype as the input ids.
      masked_positions: positions of the masked tokens in their row's
        flattened tokens, ascending per row, dtype of the row splits; flat
        (ragged, with ``masked_positions_row_splits``) or, with ``pad_to``,
        dense ``[rows, pad_to]`` padded with 0.
      masked_positions_row_splits: row splits of ``masked_positions`` and
        ``masked_ids``; ``None`` with ``pad_to``.
      masked_ids: the original ids at those positions (dtype of the ids);
        dense and padded with 0 with ``pad_to``.
      masked_weights: with ``pad_to``, float32 ``[rows, pad_to]``: 1.0 where
        a position is recorded, 0.0 in the padding; ``None`` otherwise.
      masked_values_row_splits: the row splits of ``masked_values`` as
        ``[rows, (tokens)]``: the nested splits composed, the counterpart of
        ``tf_mlm.mask_language_model``'s ``masked_input_ids`` merged to
        ``[batch, (tokens)]``. ``None`` where no splits were given
        (``mask_padded``, the collator).
    """

    masked_values: np.ndarray
    masked_positions: np.ndarray
    masked_positions_row_splits: Optional[np.ndarray]
    masked_ids: np.ndarray
    masked_weights: Optional[np.ndarray]
    masked_values_row_splits: Optional[np.ndarray] = None


def token_row_splits(row_splits) -> np.ndarray:
    """The row splits of a nested ragged batch's tokens, ``[rows, (tokens)]``:
    its nested splits (outermost first) composed, as ``merge_dims(1, -1)``
    does for a RaggedTensor.

    >>> token_row_splits([np.array([0, 2, 3]), np.array([0, 1, 3, 6])])
    array([0, 3, 6])
    """
    splits = splits_list(row_splits)
    out = splits[0]
    for inner in splits[1:]:
        out = inner[out]
    return out


# ---------------------------------------------------------------------------
# Public API


def mask_ragged(
    values,
    row_splits,
    *,
    vocab_size,
    mask_token,
    selection_rate=SELECTION_RATE,
    max_selections=None,
    unselectable_ids=(),
    mask_token_rate=MASK_TOKEN_RATE,
    random_token_rate=RANDOM_TOKEN_RATE,
    axis=1,
    selection_mode="exact",
    seed=None,
    pad_to=None,
    excluded_ids=None,
    replacement_frequencies=None,
    replacement=None,
) -> MaskResult:
    """Masks a ragged batch given as flat ``values`` and ``row_splits``.

    Per row, ``min(ceil(selectable * selection_rate), max_selections)`` items
    (``selection_mode="exact"``, tensorflow_text's law; the product is
    computed in float32) or each selectable item independently with
    probability ``selection_rate``, at most ``max_selections``
    (``"bernoulli"``, HuggingFace's law) are chosen uniformly among the
    row's selectable items; an item is selectable iff none of its tokens is
    in ``unselectable_ids``. Each token of a chosen item becomes
    ``mask_token`` with probability ``mask_token_rate``, a uniform id in
    ``[0, vocab_size)`` with probability ``random_token_rate``, and stays
    otherwise.

    >>> import numpy as np
    >>> words = [np.array([0, 4]), np.array([0, 1, 3, 5, 6])]  # 1 row of 4 words of 6 pieces
    >>> r = mask_ragged(np.array([101, 7, 8, 9, 10, 102]), words, vocab_size=200,
    ...                 mask_token=103, selection_rate=0.5, unselectable_ids=[101, 102],
    ...                 mask_token_rate=1.0, random_token_rate=0.0, seed=(5, 6), pad_to=3)
    >>> r.masked_values
    array([101, 103, 103,   9,  10, 102])
    >>> r.masked_positions, r.masked_ids, r.masked_weights
    (array([[1, 2, 0]]), array([[7, 8, 0]]), array([[1., 1., 0.]], dtype=float32))

    Args:
      values: 1-D int32/int64 token ids (flat values of the batch).
      row_splits: a 1-D int32/int64 array (``[rows + 1]``), or a list of
        them (nested splits, outermost first, one dtype).
      vocab_size: random replacements are drawn from ``[0, vocab_size)``.
      mask_token: the mask id, in ``[0, vocab_size)``.
      selection_rate: fraction (exact) or probability (bernoulli) of
        selectable items to select, in ``[0, 1]``.
      max_selections: cap on the items selected per row; None for no cap.
      unselectable_ids: ids never selected (an item containing one is never
        selected).
      mask_token_rate: probability that a selected token becomes ``mask_token``.
      random_token_rate: probability that it becomes a random id;
        ``mask_token_rate + random_token_rate <= 1``.
      axis: the ragged level whose elements are the items, in
        ``[1, len(row_splits)]``: 1 with a single splits vector (tokens);
        1 with ``[rows, words]`` splits for whole words, 2 for wordpieces.
      selection_mode: ``"exact"`` (default) or ``"bernoulli"``.
      seed: None, an int, a pair of ints or a ``numpy.random.Generator``
        (see [resolve_seed][tf_mlm.numpy.resolve_seed]).
      pad_to: None for ragged positions / ids; an int ``L`` for dense
        ``[rows, L]`` positions, ids and weights, masking at most ``L``
        tokens per row (the cap becomes ``min(max_selections, L)``).
      excluded_ids: ids never drawn as random replacements (e.g. special
        tokens), as ``MaskValuesChooser(excluded_ids=...)``; ids outside the
        vocabulary are ignored.
      replacement_frequencies: ``vocab_size`` non-negative weights: random
        replacements are drawn with probability proportional to them
        (fairseq's ``freq_weighted_replacement``; excluded ids weigh 0), as
        ``MaskValuesChooser(replacement_frequencies=...)``. The alias tables
        are rebuilt on every call: build them once with
        [replacement_tables][tf_mlm.numpy.replacement_tables] and pass
        ``replacement=`` instead.
      replacement: a [ReplacementTables][tf_mlm.numpy.ReplacementTables],
        instead of the two above.

    Returns:
      a [MaskResult][tf_mlm.numpy.MaskResult].

    Raises:
      TypeError: wrong argument types or dtypes.
      ValueError: malformed row splits, out-of-range rates or ids, a bad
        axis or seed.
    """
    options = MaskingOptions(
        vocab_size=vocab_size,
        mask_token=mask_token,
        selection_rate=selection_rate,
        max_selections=max_selections,
        unselectable_ids=unselectable_ids,
        selection_mode=selection_mode,
        axis=axis,
        mask_token_rate=mask_token_rate,
        random_token_rate=random_token_rate,
        excluded_ids=excluded_ids,
        replacement_frequencies=replacement_frequencies,
        replacement=replacement,
        pad_to=pad_to,
    )
    return mask_with_options(values, row_splits, options, seed=seed)


def mask_with_options(values, row_splits, options: MaskingOptions, *, seed=None) -> MaskResult:
    """Masks a ragged batch (as [mask_ragged][tf_mlm.numpy.mask_ragged]) with the options of a
    [tf_mlm.options.MaskingOptions][tf_mlm.options.MaskingOptions]: SpanBERT spans when its
    ``span_p`` is set (as [mask_spans][tf_mlm.numpy.mask_spans]), items otherwise."""
    values = vector("values", values)
    splits = splits_list(row_splits)
    run = _core.mask_spans if options.span_p is not None else _core.mask_language_model
    with options.named():
        outputs = run(values, splits, seed=resolve_seed(seed), **options.core_kwargs(len(splits)))
    return MaskResult(*outputs, token_row_splits(splits))


def mask_spans(
    values,
    row_splits,
    *,
    vocab_size,
    mask_token,
    selection_rate=SELECTION_RATE,
    max_selections=None,
    unselectable_ids=(),
    p=SPAN_P,
    max_span_length=MAX_SPAN_LENGTH,
    mask_token_rate=MASK_TOKEN_RATE,
    random_token_rate=RANDOM_TOKEN_RATE,
    axis=1,
    seed=None,
    pad_to=None,
    excluded_ids=None,
    replacement_frequencies=None,
    replacement=None,
) -> MaskResult:
    """SpanBERT span masking (Joshi et al., 2020) of a ragged batch.

    A separate entry point rather than a ``strategy=`` of [mask_ragged][tf_mlm.numpy.mask_ragged]
    because spans have their own parameters (``p``, ``max_span_length``) and
    their own budget unit (tokens), as ``tf_mlm.SpanItemSelector`` is its own
    class. For the same seed the result equals
    ``tf_mlm.mask_language_model(x, tf_mlm.SpanItemSelector(max_selections,
    selection_rate, unselectable_ids, p, max_span_length),
    tf_mlm.MaskValuesChooser(...), axis=axis, seed=seed)``.

    Per row, a budget of ``min(ceil(selectable_tokens * selection_rate),
    max_selections)`` tokens is spent on spans: each span draws a length
    from the geometric law ``P(l) ~ p (1 - p)^(l - 1)`` clipped to ``[1,
    max_span_length]`` and a random selectable anchor item, and extends right
    over that many items, stopping at an unselectable or already chosen item,
    the row's end or the budget. With ``[rows, words]`` splits and ``axis=1``
    the items are whole words, never split. The chosen tokens then get their
    values as in [mask_ragged][tf_mlm.numpy.mask_ragged].

    >>> ids = np.array([101] + list(range(1000, 1040)) + [102])
    >>> r = mask_spans(ids, np.array([0, 42]), vocab_size=30522, mask_token=103,
    ...                selection_rate=0.25, unselectable_ids=[101, 102], seed=(1, 2))
    >>> len(r.masked_positions)  # ceil(40 * 0.25) tokens, in spans
    10

    Args:
      values, row_splits, vocab_size, mask_token, unselectable_ids,
      mask_token_rate, random_token_rate, axis, seed, excluded_ids,
      replacement_frequencies, replacement: as [mask_ragged][tf_mlm.numpy.mask_ragged].
      selection_rate: fraction of each row's selectable *tokens* to mask.
      max_selections: cap on the tokens masked per row; None for no cap.
      p: geometric parameter of the span lengths, in ``(0, 1]`` (used as
        float32, like the TF op); SpanBERT uses 0.2.
      max_span_length: longest span, in items (SpanBERT: 10).
      pad_to: None for ragged positions / ids; an int ``L`` for dense
        ``[rows, L]`` positions, ids and weights (the token budget becomes
        ``min(max_selections, L)``, so nothing is cut).

    Returns:
      a [MaskResult][tf_mlm.numpy.MaskResult].
    """
    options = MaskingOptions(
        vocab_size=vocab_size,
        mask_token=mask_token,
        selection_rate=selection_rate,
        max_selections=max_selections,
        unselectable_ids=unselectable_ids,
        axis=axis,
        span_p=p,
        max_span_length=max_span_length,
        mask_token_rate=mask_token_rate,
        random_token_rate=random_token_rate,
        excluded_ids=excluded_ids,
        replacement_frequencies=replacement_frequencies,
        replacement=replacement,
        pad_to=pad_to,
    )
    return mask_with_options(values, row_splits, options, seed=seed)


def group_words(values, row_splits, continuation_table) -> list:
    """Groups a ``[rows, (wordpieces)]`` batch into words: the nested splits
    ``[row_splits, word_splits]`` of ``[rows, (words), (wordpieces)]`` over
    the same ``values``, ready for whole-word masking with
    ``mask_ragged(values, group_words(...), axis=1)``; the same splits as
    ``tf_mlm.group_words``.

    A piece starts a word when it is first in its row or
    ``continuation_table[id]`` is False; ids outside the table start words.

    >>> table = wordpiece_continuation_table(["[CLS]", "play", "##ing", "[SEP]"])
    >>> group_words(np.array([0, 1, 2, 1, 3]), np.array([0, 5]), table)
    [array([0, 4]), array([0, 1, 3, 4, 5])]

    Args:
      values: 1-D int32/int64 wordpiece ids.
      row_splits: the batch's 1-D int32/int64 row splits (or a list holding
        just that vector).
      continuation_table: 1-D bools (or 0/1 numbers) over the vocabulary,
        e.g. from [wordpiece_continuation_table][tf_mlm.numpy.wordpiece_continuation_table] or
        [sentencepiece_continuation_table][tf_mlm.numpy.sentencepiece_continuation_table].

    Returns:
      ``[row_splits, word_splits]``, both of the dtype of ``row_splits``.
    """
    values = vector("values", values)
    splits = splits_list(row_splits)
    if len(splits) != 1:
        raise ValueError(
            "`row_splits` must be one splits vector ([rows, (wordpieces)]), got "
            f"{len(splits)} levels"
        )
    table = np.asarray(continuation_table)
    if table.dtype == object or not (table.dtype == bool or np.issubdtype(table.dtype, np.number)):
        raise TypeError(f"`continuation_table` must hold bools, got dtype {table.dtype}")
    if table.ndim != 1:
        raise ValueError(f"`continuation_table` must be 1-D, got shape {table.shape}")
    word_row_splits, word_splits = _core.group_words(values, splits[0], table.astype(bool))
    return [word_row_splits, word_splits]


def mask_sequences(sequences, **kwargs) -> MaskResult:
    """[mask_ragged][tf_mlm.numpy.mask_ragged] on a list of rows (see
    [ragged_from_sequences][tf_mlm.numpy.ragged_from_sequences]):
    ``masked_values`` is a list of 1-D arrays, one per row holding the row's
    tokens (for rows given as lists of words, their pieces in order, as
    ``tf_mlm.mask_language_model`` merges them).

    >>> r = mask_sequences([[101, 7, 8, 102], [101, 9, 102]], vocab_size=200, mask_token=103,
    ...                    selection_rate=1.0, max_selections=1, unselectable_ids=[101, 102],
    ...                    mask_token_rate=1.0, random_token_rate=0.0, seed=5)
    >>> [row.tolist() for row in r.masked_values]
    [[101, 7, 103, 102], [101, 103, 102]]
    """
    values, splits = ragged_from_sequences(sequences)
    result = mask_ragged(values, splits, **kwargs)
    flat, bounds = result.masked_values, result.masked_values_row_splits.tolist()
    return result._replace(masked_values=[flat[a:b] for a, b in zip(bounds, bounds[1:])])


def mask_padded(ids, *, pad_id, **kwargs) -> MaskResult:
    """[mask_ragged][tf_mlm.numpy.mask_ragged] on a right-padded 2-D array (see
    [ragged_from_padded][tf_mlm.numpy.ragged_from_padded]): ``masked_values``
    has the shape of ``ids``, with the padding untouched; positions count from
    the start of each row.

    >>> ids = np.array([[101, 7, 102, 0], [101, 102, 0, 0]])
    >>> mask_padded(ids, pad_id=0, vocab_size=200, mask_token=103, selection_rate=1.0,
    ...             unselectable_ids=[101, 102], mask_token_rate=1.0, random_token_rate=0.0,
    ...             seed=1).masked_values
    array([[101, 103, 102,   0],
           [101, 102,   0,   0]])
    """
    ids, keep, values, splits = _unpad(ids, pad_id)
    result = mask_ragged(values, splits, **kwargs)
    out = ids.copy()
    out[keep] = result.masked_values
    return result._replace(masked_values=out)


# ---------------------------------------------------------------------------
# T5 span corruption


class SpanCorruptionResult(NamedTuple):
    """Outputs of [span_corruption][tf_mlm.numpy.span_corruption]: ragged
    ``inputs`` and ``targets`` (flat values, row splits) and the boolean
    ``noise_mask`` of the input tokens."""

    inputs: np.ndarray
    inputs_row_splits: np.ndarray
    targets: np.ndarray
    targets_row_splits: np.ndarray
    noise_mask: np.ndarray


def span_corruption(
    values,
    row_splits,
    *,
    seed=None,
    noise_density=0.15,
    mean_noise_span_length=3.0,
    vocab_size=None,
    first_sentinel=None,
    random_roll=False,
) -> SpanCorruptionResult:
    """T5's span corruption of a ragged batch (the noise masks of t5's
    ``random_spans_noise_mask``, each noise span replaced by a sentinel in
    the inputs, each non-noise span in the targets), the same results as
    ``tf_mlm.span_corruption`` for the same seed.

    ``seed``: ``None``, an int, a pair or a NumPy ``Generator`` (one seed
    for the batch, as ``resolve_seed`` reads it); a ``[rows, 2]`` array of
    per-example seeds (seqio's); or ``[rows, 2, 2]``, the ``seeds`` of
    ``random_spans_noise_mask`` per row. Pass ``vocab_size`` (the first
    sentinel is ``vocab_size - 1``) or ``first_sentinel``.

    >>> r = span_corruption(np.arange(10, 30), np.array([0, 20]), seed=(1, 2), vocab_size=100)
    >>> int(r.noise_mask.sum()), r.inputs[r.inputs >= 90].tolist()  # 3 noise tokens, 1 span
    (3, [99])
    """
    if (vocab_size is None) == (first_sentinel is None):
        raise ValueError("pass exactly one of `vocab_size` and `first_sentinel`")
    values, row_splits = np.asarray(values), np.asarray(row_splits)
    out = _core.span_corruption(
        values,
        row_splits,
        seeds.span_mask_seeds(seed, len(row_splits) - 1),
        kernel_noise_density(noise_density),
        mean_noise_span_length,
        random_roll,
        vocab_size - 1 if first_sentinel is None else first_sentinel,
    )
    return SpanCorruptionResult(
        out["inputs"],
        out["inputs_row_splits"],
        out["targets"],
        out["targets_row_splits"],
        out["noise_mask"],
    )
