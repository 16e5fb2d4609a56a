"""The options of a masking run, described once for every front end.

tf_mlm's front ends (``tf_mlm.numpy``, ``MLMCollator``, ``tf_mlm.hf``, the
Keras layer, ``tf-mlm mask``) each take their own, peer-compatible arguments
and map them onto [MaskingOptions][tf_mlm.options.MaskingOptions]: what is
selected (the rate, the cap, the unselectable ids, exact or Bernoulli counts,
tokens, words or SpanBERT spans), what the selected tokens become (the mask id,
the rates of the mask id and of random ids, the replacement law) and the dense
output length. The defaults below are tf_mlm's only Python defaults of these
options; front ends' signatures name them. The C++ core owns the rules (ranges,
sums, sizes) and their messages:
[MaskingOptions.validate][tf_mlm.options.MaskingOptions.validate] runs its
checks, and
[MaskingOptions.core_kwargs][tf_mlm.options.MaskingOptions.core_kwargs] checks
only types. Messages name the front end's arguments (``names``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
import re
from typing import Any, Mapping, NamedTuple, Optional

import numpy as np

from tf_mlm import _core
from tf_mlm._shared.args import NO_CAP, id_array, int_arg, rate_arg, vector

#: Probability (Bernoulli) or fraction (exact) of the selectable items selected.
SELECTION_RATE = 0.15
#: Share of the selected tokens that become the mask id (BERT's 80 %).
MASK_TOKEN_RATE = 0.8
#: Share of the selected tokens that become a random id (BERT's 10 %).
RANDOM_TOKEN_RATE = 0.1
#: SpanBERT's geometric parameter of span lengths.
SPAN_P = 0.2
#: SpanBERT's longest span, in items.
MAX_SPAN_LENGTH = 10


class ReplacementTables(NamedTuple):
    """The law of random replacement ids, normalised once (see
    [replacement_tables][tf_mlm.options.replacement_tables]): what
    ``MaskValuesChooser`` builds from its ``excluded_ids`` and
    ``replacement_frequencies``.

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
    here, O(1) per draw. Same normalisation (the core's BuildReplacementTables)
    as ``tf_mlm.MaskValuesChooser``, hence the same masks for the same seed.

    >>> t = replacement_tables(5, excluded_ids=[3, 0, 3, 9])
    >>> t.excluded_ids, t.alias_prob
    (array([0, 3]), None)
    >>> t = replacement_tables(4, excluded_ids=[1], replacement_frequencies=[1, 5, 1, 2])
    >>> t.excluded_ids.size, t.alias_prob.dtype, t.alias_index.shape
    (0, dtype('float32'), (4,))
    """
    vocab_size = int_arg("vocab_size", vocab_size)
    ids = None if excluded_ids is None else id_array("excluded_ids", excluded_ids)
    weights = None if replacement_frequencies is None else np.asarray(replacement_frequencies)
    if weights is not None and (
        weights.dtype == object
        or not (np.issubdtype(weights.dtype, np.number) or weights.dtype == bool)
    ):
        raise TypeError(f"`replacement_frequencies` must be numbers, got dtype {weights.dtype}")
    excluded, prob, alias = _core.replacement_tables(vocab_size, ids, weights)
    return ReplacementTables(vocab_size, excluded, prob, alias)


@dataclasses.dataclass(frozen=True)
class MaskingOptions:
    """One masking run's options, as the core takes them.

    Attributes:
      vocab_size: random replacements are drawn from ``[0, vocab_size)``.
      mask_token: the mask id.
      selection_rate: probability (``"bernoulli"``) or fraction
        (``"exact"``, ``ceil(n * rate)``) of a row's selectable items.
      max_selections: cap on the items selected per row; None: no cap.
      unselectable_ids: ids never selected.
      selection_mode: ``"exact"`` (tensorflow_text's count) or
        ``"bernoulli"`` (HuggingFace's).
      axis: the ragged level whose elements are the items (1: tokens, or
        words of ``[rows, words]`` splits; 2: pieces of nested splits).
      span_p: None (items), or SpanBERT spans: a budget of
        ``min(ceil(selectable tokens * selection_rate), cap)`` tokens spent
        on spans of geometric(``span_p``) lengths up to ``max_span_length``.
      max_span_length: the longest span, in items.
      mask_token_rate, random_token_rate: shares of the selected tokens
        that become ``mask_token`` and a random id.
      excluded_ids: ids never drawn as random replacements.
      replacement_frequencies: ``vocab_size`` weights of random ids.
      replacement: built [ReplacementTables][tf_mlm.options.ReplacementTables],
        instead of the two above.
      pad_to: None (ragged outputs), or the length ``L`` of dense
        ``[rows, L]`` positions, ids and weights (the core caps the count
        at ``L``).
      names: the front end's names of the options in the core's and this
        module's messages (``{"pad_to": "mask_selection_length"}``; SpanBERT's
        parameter is ``span p`` in the core's messages, ``p`` in the type
        checks), replaced in the errors raised.
    """

    vocab_size: Any
    mask_token: Any
    selection_rate: Any = SELECTION_RATE
    max_selections: Any = None
    unselectable_ids: Any = ()
    selection_mode: str = "exact"
    axis: Any = 1
    span_p: Any = None
    max_span_length: Any = MAX_SPAN_LENGTH
    mask_token_rate: Any = MASK_TOKEN_RATE
    random_token_rate: Any = RANDOM_TOKEN_RATE
    excluded_ids: Any = None
    replacement_frequencies: Any = None
    replacement: Optional[ReplacementTables] = None
    pad_to: Any = None
    names: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    def core_kwargs(self, ragged_rank: int = 1) -> dict:
        """The keyword arguments of ``_core.mask_language_model`` (or, with
        ``span_p``, ``_core.mask_spans``) other than the data and the seed,
        type-checked and normalised; the core checks their ranges."""
        with self.named():
            options = _value_kwargs(self)
            axis = int_arg("axis", self.axis)
            if axis < 0:
                axis += ragged_rank + 1
            pad_to = -1
            if self.pad_to is not None and int_arg("pad_to", self.pad_to) < 0:
                raise ValueError(f"`pad_to` must be >= 0 or None, got {self.pad_to}")
            elif self.pad_to is not None:
                pad_to = int(self.pad_to)
            options.update(
                unselectable_ids=vector(
                    "unselectable_ids",
                    () if self.unselectable_ids is None else self.unselectable_ids,
                ),
                max_selections=(
                    NO_CAP
                    if self.max_selections is None
                    else int_arg("max_selections", self.max_selections)
                ),
                selection_rate=rate_arg("selection_rate", self.selection_rate),
                axis=axis,
                pad_to=pad_to,
            )
            max_span_length = int_arg("max_span_length", self.max_span_length)
            if self.span_p is None:
                if not isinstance(self.selection_mode, str):
                    raise TypeError(
                        "`selection_mode` must be 'exact' or 'bernoulli', "
                        f"got {self.selection_mode!r}"
                    )
                options["selection_mode"] = self.selection_mode
            else:
                if isinstance(self.span_p, (bool, np.bool_)) or not isinstance(
                    self.span_p, numbers.Real
                ):
                    raise TypeError(f"`p` must be a real number in (0, 1], got {self.span_p!r}")
                options.update(
                    p=float(self.span_p),
                    max_span_length=max_span_length,
                )
        return options

    def with_tables(self) -> "MaskingOptions":
        """These options with the replacement law built once (``replacement``),
        for repeated masking calls."""
        if self.replacement is not None:
            return self
        with self.named():
            tables = replacement_tables(
                self.vocab_size,
                excluded_ids=self.excluded_ids,
                replacement_frequencies=self.replacement_frequencies,
            )
        return dataclasses.replace(
            self, excluded_ids=None, replacement_frequencies=None, replacement=tables
        )

    def validate(self, ragged_rank: int = 1) -> "MaskingOptions":
        """The core's checks of these options, on an empty batch; errors name
        the front end's arguments."""
        kwargs = self.core_kwargs(ragged_rank)
        splits = [np.zeros(1, np.int64)] * ragged_rank
        with self.named():
            run = _core.mask_spans if self.span_p is not None else _core.mask_language_model
            run(np.zeros(0, np.int64), splits, seed=(0, 0), **kwargs)
        return self

    @contextlib.contextmanager
    def named(self):
        """Re-raises ``ValueError`` / ``TypeError`` with the core's names of
        the options replaced by the front end's (`names`)."""
        try:
            yield
        except (ValueError, TypeError) as e:
            if not self.names:
                raise
            message = re.sub(
                r"\b(" + "|".join(map(re.escape, self.names)) + r")\b",
                lambda m: self.names[m.group(1)],
                str(e),
            )
            raise type(e)(message) from None


def _value_kwargs(o: MaskingOptions) -> dict:
    """The core's value-choice arguments: ids, rates, the replacement law."""
    vocab_size = int_arg("vocab_size", o.vocab_size)
    replacement = o.replacement
    if replacement is None:
        replacement = replacement_tables(
            vocab_size,
            excluded_ids=o.excluded_ids,
            replacement_frequencies=o.replacement_frequencies,
        )
    elif o.excluded_ids is not None or o.replacement_frequencies is not None:
        raise ValueError(
            "pass either `replacement` or `excluded_ids` / `replacement_frequencies`, not both"
        )
    elif not isinstance(replacement, ReplacementTables):
        raise TypeError(
            "`replacement` must be a ReplacementTables (see replacement_tables), "
            f"got {type(replacement).__name__}"
        )
    if replacement.vocab_size != vocab_size:
        raise ValueError(
            f"`replacement` was built for vocab_size {replacement.vocab_size}, not {vocab_size}"
        )
    options = dict(
        vocab_size=vocab_size,
        mask_token=int_arg("mask_token", o.mask_token),
        mask_token_rate=rate_arg("mask_token_rate", o.mask_token_rate),
        random_token_rate=rate_arg("random_token_rate", o.random_token_rate),
    )
    if replacement.excluded_ids.size:
        options["excluded_ids"] = replacement.excluded_ids
    if replacement.alias_prob is not None:
        options.update(alias_prob=replacement.alias_prob, alias_index=replacement.alias_index)
    return options
