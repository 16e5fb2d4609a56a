"""The options of a ``tf-mlm mask`` run: :class:`MaskingConfig` (BERT's
masked LM) or :class:`SpanCorruptionConfig` (T5's span corruption), checked
by their ``validate`` before anything is read or written."""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence

import numpy as np

from tf_mlm._shared.seeds import INT64_MAX, INT64_MIN
from tf_mlm.options import (
    MASK_TOKEN_RATE,
    MAX_SPAN_LENGTH,
    RANDOM_TOKEN_RATE,
    SELECTION_RATE,
    SPAN_P,
    MaskingOptions,
)

SELECTION_MODES = ("exact", "bernoulli")
# The core's names of the options -> the command's, in messages.
CONFIG_NAMES = {
    "vocab_size": "vocab size",
    "mask_token_rate": "mask token rate",
    "random_token_rate": "random token rate",
    "selection_rate": "selection rate",
    "max_selections": "max selections",
    "span p": "span p",
    "p": "span p",
    "max_span_length": "max span length",
    "excluded_ids": "random excluded ids",
    "replacement_frequencies": "replacement frequencies",
}


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def check_probability(name: str, value: float) -> float:
    """The command's contract for each rate it takes: a probability, in
    ``[0, 1]`` (the core allows a selection rate above 1). ``ValueError``
    otherwise; the command line runs it at parse time."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


@dataclasses.dataclass
class MaskingConfig:
    """Every option of the masking, as ``tf-mlm mask`` exposes it.

    Attributes:
      vocab_size: random replacements come from ``[0, vocab_size)``; input
        ids must lie in that range.
      mask_token: id of the mask token.
      selection_rate: fraction of each sequence's selectable items masked
        (BERT's ``masked_lm_prob``).
      max_predictions_per_seq: length the predictions are padded to, and the
        most masked tokens a record may have.
      max_selections: cap on selected items per sequence (words with
        ``whole_word``); default ``max_predictions_per_seq``. When the
        selected items hold more tokens than ``max_predictions_per_seq``,
        whole items chosen at random are unmasked until they fit.
      mask_token_rate, random_token_rate: BERT's 80/10/10 split.
      unselectable_ids: ids never masked.
      selection_mode: ``"exact"`` (tensorflow_text's count) or
        ``"bernoulli"`` (each item independently).
      whole_word: mask whole words: the words of inputs that carry them
        (JSON lists of words), else words grouped by ``continuation_table``.
      continuation_table: bool per vocabulary id, True for pieces that
        continue a word (:func:`tf_mlm.wordpiece_continuation_table`).
      span: SpanBERT span masking (:class:`tf_mlm.SpanItemSelector`) with
        geometric span lengths of parameter ``span_p`` clipped at
        ``max_span_length`` (items: words with ``whole_word``).
      random_excluded_ids: ids never drawn as random replacements.
      replacement_frequencies: ``vocab_size`` weights: random replacements
        drawn in proportion to them (fairseq's freq_weighted_replacement).
      max_seq_length: length ``input_ids`` is padded to.
      seed: makes the output reproducible (see :func:`record_seed`).
      dupe_factor: how many differently masked copies of each sequence.
    """

    vocab_size: int
    mask_token: int
    selection_rate: float = SELECTION_RATE
    max_predictions_per_seq: int = 20
    max_selections: Optional[int] = None
    mask_token_rate: float = MASK_TOKEN_RATE
    random_token_rate: float = RANDOM_TOKEN_RATE
    unselectable_ids: Sequence[int] = ()
    selection_mode: str = "exact"
    whole_word: bool = False
    continuation_table: Optional[np.ndarray] = None
    span: bool = False
    span_p: float = SPAN_P
    max_span_length: int = MAX_SPAN_LENGTH
    random_excluded_ids: Sequence[int] = ()
    replacement_frequencies: Optional[np.ndarray] = None
    max_seq_length: int = 128
    seed: int = 12345
    dupe_factor: int = 1

    objective = "mlm"

    def validate(self) -> None:
        """Raises ``ValueError`` naming the first bad option."""
        check = _check
        # The command's own contract, narrower than the core's: the mask id
        # is a vocabulary id, the selection rate a fraction of [0, 1].
        check(self.vocab_size > 0, f"vocab size must be positive, got {self.vocab_size}")
        check(
            0 <= self.mask_token < self.vocab_size,
            f"mask token {self.mask_token} is outside the vocabulary [0, {self.vocab_size})",
        )
        check_probability("selection rate", self.selection_rate)
        check(self.max_predictions_per_seq > 0, "max predictions per sequence must be positive")
        check(self.max_seq_length > 0, "max sequence length must be positive")
        check(self.dupe_factor >= 1, f"dupe factor must be >= 1, got {self.dupe_factor}")
        check(
            self.selection_mode in SELECTION_MODES,
            f"selection mode must be one of {SELECTION_MODES}, got {self.selection_mode!r}",
        )
        check(INT64_MIN <= self.seed <= INT64_MAX, "seed must fit in int64")
        check(
            not (self.span and self.selection_mode != "exact"),
            "span masking draws exact budgets; selection mode 'bernoulli' does not apply",
        )
        # The rest (rates and their sum, cap, span parameters, the replacement
        # law as the kernels build it) is the core's, checked now rather than
        # mid-run, under the command's names.
        with np.errstate(over="ignore"):  # weights beyond float32: the core reports them
            self.masking_options().validate()

    def masking_options(self) -> MaskingOptions:
        """The run's options in the model every front end shares (the span
        parameters are checked whether or not ``span`` is set)."""
        excluded = [int(i) for i in self.random_excluded_ids]
        return MaskingOptions(
            vocab_size=self.vocab_size,
            mask_token=self.mask_token,
            selection_rate=self.selection_rate,
            max_selections=self.max_selections,
            selection_mode=self.selection_mode,
            span_p=self.span_p,
            max_span_length=self.max_span_length,
            mask_token_rate=self.mask_token_rate,
            random_token_rate=self.random_token_rate,
            excluded_ids=np.asarray(excluded, np.int64) if excluded else None,
            replacement_frequencies=self.replacement_frequencies,
            names=CONFIG_NAMES,
        )

    @property
    def cap(self) -> int:
        return self.max_predictions_per_seq if self.max_selections is None else self.max_selections

    def to_json(self) -> Dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in ("unselectable_ids", "random_excluded_ids"):
            d[name] = [int(i) for i in d[name]]
        d["continuation_table"] = self.continuation_table is not None
        d["replacement_frequencies"] = self.replacement_frequencies is not None
        return d


OBJECTIVES = ("mlm", "span_corruption")
# The sentinel (extra) ids T5's vocabularies reserve above their pieces.
T5_EXTRA_IDS = 100


@dataclasses.dataclass
class SpanCorruptionConfig:
    """Every option of T5 span corruption (``tf-mlm mask --objective
    span-corruption``): each sequence is corrupted as one example by
    :func:`tf_mlm.span_corruption`.

    Attributes:
      vocab_size: the vocabulary's size with its sentinel (extra) ids; the
        first sentinel is ``vocab_size - 1``, the k-th ``vocab_size - 1 - k``
        (T5's ``<extra_id_k>``); input ids must lie below ``vocab_size``.
      noise_density: fraction of each sequence's tokens in noise spans.
      mean_noise_span_length: mean length of a noise span.
      max_seq_length: the longest (raw) sequence, before corruption.
      inputs_length: when set, ``max_seq_length`` is T5's raw length for
        inputs this long, EOS included (t5's ``random_spans_helper``).
      seed: makes the output reproducible (see :func:`record_seed`).
      dupe_factor: how many differently corrupted copies of each sequence.
    """

    vocab_size: int
    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0
    max_seq_length: int = 128
    inputs_length: Optional[int] = None
    seed: int = 12345
    dupe_factor: int = 1

    objective = "span_corruption"
    # What the reading side of the pipeline asks of a masked-LM config.
    whole_word = False
    continuation_table = None

    @property
    def first_sentinel(self) -> int:
        return self.vocab_size - 1

    def validate(self) -> None:
        """Raises ``ValueError`` naming the first bad option."""
        check = _check
        check(self.vocab_size > 1, f"vocab size must be at least 2, got {self.vocab_size}")
        check(
            0.0 < self.noise_density < 1.0,
            f"noise density must be in (0, 1), got {self.noise_density}",
        )
        check(
            np.isfinite(self.mean_noise_span_length) and self.mean_noise_span_length >= 1.0,
            f"mean noise span length must be a number >= 1, got {self.mean_noise_span_length}",
        )
        check(self.max_seq_length > 0, "max sequence length must be positive")
        check(
            self.inputs_length is None or self.inputs_length > 1,
            f"inputs length must be at least 2 (EOS included), got {self.inputs_length}",
        )
        check(self.dupe_factor >= 1, f"dupe factor must be >= 1, got {self.dupe_factor}")
        check(INT64_MIN <= self.seed <= INT64_MAX, "seed must fit in int64")

    def length_error(self, length: int) -> Optional[str]:
        """Why a sequence of ``length`` tokens cannot be corrupted with these
        options (more noise spans than noise or non-noise tokens: t5 fails
        there too), or None."""
        padded = max(length, 2)  # the kernels' length for shorter rows
        noise, spans = expected_noise(padded, self.noise_density, self.mean_noise_span_length)
        if spans <= noise and spans <= padded - noise:
            return None
        return (
            f"a sequence of {length} tokens cannot hold {spans} noise spans: {noise} noise "
            f"and {padded - noise} non-noise tokens (noise density {self.noise_density}, "
            f"mean noise span length {self.mean_noise_span_length})"
        )

    def lowest_sentinel(self, length: int) -> int:
        """The lowest sentinel a sequence of ``length`` tokens gets (its
        last noise span's); its ids must lie below it, or its records could
        not be told apart from sentinels."""
        _, spans = expected_noise(max(length, 2), self.noise_density, self.mean_noise_span_length)
        return self.first_sentinel - spans + 1

    def to_json(self) -> Dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["first_sentinel"] = self.first_sentinel
        return d


def expected_noise(length: int, noise_density: float, mean_noise_span_length: float):
    """``(noise tokens, noise spans)`` of a sequence of ``length >= 2`` tokens,
    as the span-corruption kernels count them (t5's ``num_noise_tokens`` and
    ``num_noise_spans``: float32, rounded half to even, clamped).

    >>> expected_noise(100, 0.15, 3.0)
    (15, 5)
    """
    noise = int(np.rint(np.float32(length) * np.float32(noise_density)))
    noise = min(max(noise, 1), length - 1)
    spans = int(np.rint(np.float32(noise) / np.float32(mean_noise_span_length)))
    return noise, max(spans, 1)
