"""The NumPy core's options, normalised once: what ``tf_mlm.numpy`` and
``MLMCollator`` pass to ``tf_mlm._core`` besides the data and the seed, and
the replacement law (:func:`replacement_tables`).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from tf_mlm import _core
from tf_mlm._args import NO_CAP, id_array, int_arg, rate_arg, vector


class ReplacementTables(NamedTuple):
    """The law of random replacement ids, normalised once (see
    :func:`replacement_tables`): what ``MaskValuesChooser`` builds from its
    ``excluded_ids`` and ``replacement_frequencies``.

    Attributes:
      vocab_size: the vocabulary the tables are for.
      excluded_ids: sorted, unique int64 ids in ``[0, vocab_size)`` never
        drawn (empty when ``alias_prob`` is set: excluded ids then weigh 0).
      alias_prob: float32 ``[vocab_size]`` alias-method probabilities, or
        None for a uniform draw.
      alias_index: int64 ``[vocab_size]`` aliases, or None.
    """

    vocab_size: int
    excluded_ids: np.ndarray
    alias_prob: Optional[np.ndarray]
    alias_index: Optional[np.ndarray]


def replacement_tables(
    vocab_size, *, excluded_ids=None, replacement_frequencies=None
) -> ReplacementTables:
    """Builds the replacement law once, for repeated masking calls.

    Random replacements are uniform over ``[0, vocab_size)`` minus
    ``excluded_ids`` (ids outside the vocabulary are ignored), or, with
    ``replacement_frequencies`` (``vocab_size`` finite weights >= 0, summing
    to more than 0 once the excluded ids weigh 0), drawn with probability
    proportional to the weights through Walker/Vose alias tables: O(V) once
    here, O(1) per draw. Same normalisation as ``tf_mlm.MaskValuesChooser``,
    hence the same masks for the same seed.

    >>> t = replacement_tables(5, excluded_ids=[3, 0, 3, 9])
    >>> t.excluded_ids, t.alias_prob
    (array([0, 3]), None)
    >>> t = replacement_tables(4, excluded_ids=[1], replacement_frequencies=[1, 5, 1, 2])
    >>> t.excluded_ids.size, t.alias_prob.dtype, t.alias_index.shape
    (0, dtype('float32'), (4,))
    """
    vocab_size = int_arg("vocab_size", vocab_size)
    if vocab_size < 1:
        raise ValueError(f"`vocab_size` must be >= 1, got {vocab_size}")
    excluded = np.zeros(0, np.int64)
    if excluded_ids is not None:
        ids = id_array("excluded_ids", excluded_ids).astype(np.int64, copy=False).reshape(-1)
        excluded = np.unique(ids[(ids >= 0) & (ids < vocab_size)])
        if excluded.size >= vocab_size:
            raise ValueError("`excluded_ids` leave no id to draw random replacements from")
    if replacement_frequencies is None:
        return ReplacementTables(vocab_size, excluded, None, None)
    weights = np.asarray(replacement_frequencies)
    if weights.dtype == object or not (
        np.issubdtype(weights.dtype, np.number) or weights.dtype == bool
    ):
        raise TypeError(f"`replacement_frequencies` must be numbers, got dtype {weights.dtype}")
    weights = weights.astype(np.float32).reshape(-1)  # float32, as the TF chooser
    if weights.shape[0] != vocab_size:
        raise ValueError(
            f"`replacement_frequencies` must have vocab_size ({vocab_size}) "
            f"entries, got {weights.shape[0]}"
        )
    if excluded.size:
        keep = np.ones(vocab_size, np.float32)
        keep[excluded] = 0.0
        weights = weights * keep
    try:
        prob, alias = _core.build_alias_table(weights)
    except ValueError as e:
        raise ValueError(f"`replacement_frequencies`: {e}") from None
    return ReplacementTables(vocab_size, np.zeros(0, np.int64), prob, alias)


def core_options(
    *,
    ragged_rank,
    vocab_size,
    mask_token,
    selection_rate,
    max_selections,
    unselectable_ids,
    mask_token_rate,
    random_token_rate,
    axis,
    selection_mode,
    pad_to,
    excluded_ids=None,
    replacement_frequencies=None,
    replacement=None,
    pad_to_name="pad_to",
) -> dict:
    """The keyword arguments of ``_core.mask_language_model`` other than the
    data and the seed, normalised (the module validates them again).
    ``pad_to_name``: the caller's name for ``pad_to``, for messages."""
    options = value_options(
        vocab_size=vocab_size,
        mask_token=mask_token,
        mask_token_rate=mask_token_rate,
        random_token_rate=random_token_rate,
        excluded_ids=excluded_ids,
        replacement_frequencies=replacement_frequencies,
        replacement=replacement,
    )
    axis = int_arg("axis", axis)
    if axis < 0:
        axis += ragged_rank + 1
    if pad_to is None:
        pad_to = -1
    elif int_arg(pad_to_name, pad_to) < 0:
        raise ValueError(f"`{pad_to_name}` must be >= 0 or None, got {pad_to}")
    if not isinstance(selection_mode, str):
        raise TypeError(f"`selection_mode` must be 'exact' or 'bernoulli', got {selection_mode!r}")
    options.update(
        selection_options(unselectable_ids, max_selections, selection_rate),
        axis=axis,
        selection_mode=selection_mode,
        pad_to=int(pad_to),
    )
    return options


def selection_options(unselectable_ids, max_selections, selection_rate) -> dict:
    return dict(
        unselectable_ids=vector(
            "unselectable_ids", () if unselectable_ids is None else unselectable_ids
        ),
        max_selections=(
            NO_CAP if max_selections is None else int_arg("max_selections", max_selections)
        ),
        selection_rate=rate_arg("selection_rate", selection_rate),
    )


def value_options(
    *,
    vocab_size,
    mask_token,
    mask_token_rate,
    random_token_rate,
    excluded_ids,
    replacement_frequencies,
    replacement,
) -> dict:
    """Keyword arguments of the core's value choice: rates, ids, replacement law."""
    vocab_size = int_arg("vocab_size", vocab_size)
    if replacement is None:
        replacement = replacement_tables(
            vocab_size, excluded_ids=excluded_ids, replacement_frequencies=replacement_frequencies
        )
    elif excluded_ids is not None or replacement_frequencies is not None:
        raise ValueError(
            "pass either `replacement` or `excluded_ids` / `replacement_frequencies`, not both"
        )
    elif not isinstance(replacement, ReplacementTables):
        raise TypeError(
            "`replacement` must be a ReplacementTables (see replacement_tables), "
            f"got {type(replacement).__name__}"
        )
    options = dict(
        vocab_size=vocab_size,
        mask_token=int_arg("mask_token", mask_token),
        mask_token_rate=rate_arg("mask_token_rate", mask_token_rate),
        random_token_rate=rate_arg("random_token_rate", random_token_rate),
    )
    if replacement.vocab_size != vocab_size:
        raise ValueError(
            f"`replacement` was built for vocab_size {replacement.vocab_size}, not {vocab_size}"
        )
    if replacement.excluded_ids.size:
        options["excluded_ids"] = replacement.excluded_ids
    if replacement.alias_prob is not None:
        options.update(alias_prob=replacement.alias_prob, alias_index=replacement.alias_index)
    return options
