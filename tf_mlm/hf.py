"""A drop-in for transformers' ``DataCollatorForLanguageModeling`` on
tf_mlm's C++ core.

[DataCollatorForLanguageModeling][tf_mlm.hf.DataCollatorForLanguageModeling] is
a subclass of transformers 5.x's class of that name: the same dataclass fields
(and tf_mlm's keyword-only extensions after them), the same checks, methods and
hooks, the same inputs and batch. Change the import, keep the rest. Each batch
is padded by ``tf_mlm._shared.hf_padding`` (as ``tokenizer.pad`` pads) and
masked in C++ (whole words too) by the ``torch_mask_tokens`` /
``numpy_mask_tokens`` hooks; a subclass that overrides a hook gets it called
where transformers calls it, with the same arguments. The masks follow
transformers' law (each non-special token selected with probability
``mlm_probability``, then ``mask_replace_prob`` ``[MASK]``,
``random_replace_prob`` random id, the rest kept) but come from tf_mlm's Philox
streams, so they are not transformers' draws.

Every field is read when a batch is made, so a field changed between
batches (an annealed ``mlm_probability``, ``mlm`` switched on) takes effect
at the next one; what is derived from the fields and the tokenizer (the
core's options, the special ids) is cached under a key of the field values
and the tokenizer's special tokens and length.

[DataCollatorForT5MLM][tf_mlm.t5_collator.DataCollatorForT5MLM] and
[compute_input_and_target_lengths][tf_mlm.t5_collator.compute_input_and_target_lengths]
(from ``tf_mlm.t5_collator``, which needs no transformers) are the drop-ins for
the collator of transformers' Flax T5 example (``run_t5_mlm_flax.py``).

transformers is needed to import this module (``pip install
"tf_mlm[hf]"``); torch only for ``"pt"`` batches.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from tf_mlm import _core
from tf_mlm._shared import seeds
from tf_mlm._shared.args import ID_DTYPES
from tf_mlm._shared.batching import LABEL_IGNORE, result_labels
from tf_mlm._shared.hf_padding import (
    PAD_FILL,
    as_numpy,
    collate_features,
    pad_encodings,
    pad_ids,
    pad_offsets,
    require_transformers,
)
from tf_mlm.numpy import MaskResult
from tf_mlm.options import MAX_SPAN_LENGTH, MaskingOptions
from tf_mlm.t5_collator import DataCollatorForT5MLM, compute_input_and_target_lengths

transformers = require_transformers()
_Peer = transformers.DataCollatorForLanguageModeling

__all__ = [
    "DataCollatorForLanguageModeling",
    "DataCollatorForT5MLM",
    "compute_input_and_target_lengths",
    "PAD_FILL",
    "pad_encodings",
    "pad_ids",
    "pad_offsets",
    "require_transformers",
]

# The core's names of the options -> the collator's (transformers' and tf_mlm's).
ARGUMENT_NAMES = {
    "selection_rate": "mlm_probability",
    "mask_token_rate": "mask_replace_prob",
    "random_token_rate": "random_replace_prob",
    "pad_to": "mask_selection_length",
    "span p": "span_p",
    "p": "span_p",
}
# The hooks whose C++ replacement runs only while the instance's class keeps
# tf_mlm's own (a subclass overriding one gets it called instead).
_MASK_HOOKS = {"pt": "torch_mask_tokens", "np": "numpy_mask_tokens"}
# transformers' whole-word helpers: overriding either sends whole-word
# masking through transformers' own hook, which calls them.
_WORD_HOOKS = ("_calc_word_ids_and_prob_mask", "_whole_word_mask")


@dataclasses.dataclass
class DataCollatorForLanguageModeling(_Peer):
    """Pads and masks examples as transformers' ``DataCollatorForLanguageModeling``.

    Examples are lists / arrays / tensors of ids, or dicts (``BatchEncoding``)
    with ``input_ids`` and optionally ``attention_mask``, ``token_type_ids``,
    ``special_tokens_mask``, ``offset_mapping`` and other keys (labels such
    as ``next_sentence_label``). The batch holds the padded keys (without
    ``special_tokens_mask`` and ``offset_mapping``) and ``labels``: the
    original id at the selected tokens, -100 elsewhere (``mlm=False``: the
    ids, -100 at padding).

    Fields (transformers' own, in its order, with its defaults and checks):
      tokenizer: a transformers tokenizer (a fast one for whole words).
      mlm: mask (True) or causal-LM labels (False).
      whole_word_mask: select whole words (from the examples'
        ``offset_mapping``: a token continues a word when it starts where
        the previous one ends); as in transformers, the constructor sets
        ``mask_replace_prob`` to 1 unless ``whole_word_random_replace``.
      mlm_probability: probability of selecting each token (word).
      mask_replace_prob, random_replace_prob: shares of the selected tokens
        that become the mask id, a random id in ``[0, len(tokenizer))``;
        the rest stay.
      pad_to_multiple_of: round the padded length up to a multiple of it.
      return_tensors: ``"pt"`` or ``"np"`` (checked when called).
      seed: None (keys drawn from NumPy's or torch's global generator, as
        transformers draws), or an int: ``create_rng`` makes
        ``self.generator`` from it (``seed + worker id`` in a DataLoader
        worker), and each batch's Philox key is drawn from that generator.

    Keyword-only extensions (tf_mlm's; defaults leave transformers' behaviour):
      selection_mode: ``"bernoulli"`` (transformers) or ``"exact"``
        (``ceil(n * mlm_probability)`` of a sequence's n tokens or words).
      max_selections: at most this many tokens (words) per sequence.
      whole_word_random_replace: keep ``mask_replace_prob`` /
        ``random_replace_prob`` with ``whole_word_mask``.
      excluded_ids: ids never drawn as random replacements.
      replacement_frequencies: ``len(tokenizer)`` weights: random ids drawn
        in proportion.
      mask_selection_length: K; also return ``[batch, K]``
        ``mask_positions`` (int64), ``mask_ids`` and float32
        ``mask_weights`` (keras_hub's layout), at most K selections per row.
      span_p, max_span_length: SpanBERT spans instead of single tokens: a
        budget of ``ceil(n * mlm_probability)`` of a row's n selectable
        tokens, spent on spans of geometric(``span_p``) lengths up to
        ``max_span_length`` (SpanBERT: 0.2, 10); token-level only.
    """

    selection_mode: str = dataclasses.field(default="bernoulli", kw_only=True)
    max_selections: int | None = dataclasses.field(default=None, kw_only=True)
    whole_word_random_replace: bool = dataclasses.field(default=False, kw_only=True)
    excluded_ids: Any = dataclasses.field(default=None, kw_only=True)
    replacement_frequencies: Any = dataclasses.field(default=None, kw_only=True)
    mask_selection_length: int | None = dataclasses.field(default=None, kw_only=True)
    span_p: float | None = dataclasses.field(default=None, kw_only=True)
    max_span_length: int = dataclasses.field(default=MAX_SPAN_LENGTH, kw_only=True)

    def __post_init__(self):
        self._check_args()
        self.generator = None
        self._plan = (None, None)  # (key, plan): one attribute, for threads
        if self.mlm:  # the core checks the options now, on an empty batch
            self._mask(np.zeros((0, 0), np.int64), None, None, seed=(0, 0))

    def _check_args(self):
        """transformers' checks, messages and warnings, in its order; with
        ``whole_word_random_replace`` the replacement rates are kept."""
        if self.mlm:
            if self.tokenizer.mask_token is None:
                raise ValueError(
                    "This tokenizer does not have a mask token which is necessary for masked "
                    "language modeling. You should pass `mlm=False` to train on causal language "
                    "modeling instead."
                )
            if self.mlm_probability is None or not 0 <= self.mlm_probability <= 1:
                raise ValueError("mlm_probability should be between 0 and 1.")
            self.mlm_probability = float(self.mlm_probability)
        elif self.whole_word_mask:
            raise ValueError(
                "Whole word masking can only be used with mlm=True."
                "If you want to use whole word masking, please set mlm=True."
            )
        if self.mask_replace_prob + self.random_replace_prob > 1:
            raise ValueError(
                "The sum of mask_replace_prob and random_replace_prob should not exceed 1"
            )
        if not 0 <= self.mask_replace_prob <= 1:
            raise ValueError("mask_replace_prob should be between 0 and 1.")
        if not 0 <= self.random_replace_prob <= 1:
            raise ValueError("random_replace_prob should be between 0 and 1.")
        if self.whole_word_mask:
            if not self.tokenizer.is_fast:
                warnings.warn(
                    "Whole word masking depends on offset mapping which is only natively "
                    "available with fast tokenizers.",
                    UserWarning,
                )
            if self.mask_replace_prob < 1 and not self.whole_word_random_replace:
                warnings.warn(
                    "Random token replacement is not supported with whole word masking. "
                    "Setting mask_replace_prob to 1 (tf_mlm supports it: pass "
                    "whole_word_random_replace=True)."
                )
                self.mask_replace_prob = 1
                self.random_replace_prob = 0
        self.mask_replace_prob = float(self.mask_replace_prob)
        self.random_replace_prob = float(self.random_replace_prob)

    # -- collation: transformers' torch_call / numpy_call ----------------------

    def torch_call(self, examples):
        return self._collate(examples, "pt")

    def numpy_call(self, examples):
        return self._collate(examples, "np")

    def _collate(self, examples, return_tensors):
        """transformers' ``torch_call`` / ``numpy_call``: pad, then mask with
        the hook (or its C++ replacement while the hook is tf_mlm's own)."""
        if self.seed is not None and self.generator is None:
            self.create_rng()
        batch = collate_features(examples, self.tokenizer, self.pad_to_multiple_of, return_tensors)
        special = batch.pop("special_tokens_mask", None)
        offsets = batch.pop("offset_mapping", None)
        if not self.mlm:
            labels = (
                batch["input_ids"].clone() if return_tensors == "pt" else batch["input_ids"].copy()
            )
            if self.tokenizer.pad_token_id is not None:
                labels[labels == self.tokenizer.pad_token_id] = LABEL_IGNORE
            batch["labels"] = labels
            return batch
        hook = _MASK_HOOKS[return_tensors]
        if self._overrides(hook) or self._peer_masks_words():
            batch["input_ids"], batch["labels"] = getattr(self, hook)(
                batch["input_ids"], special_tokens_mask=special, offset_mapping=offsets
            )
            return batch
        labels, dense = self._mask_tensor(batch["input_ids"], special, offsets, return_tensors)
        batch["labels"] = labels
        batch.update(dense)
        return batch

    # -- masking: transformers' hooks, in C++ ------------------------------------

    def torch_mask_tokens(self, inputs, special_tokens_mask=None, offset_mapping=None):
        """transformers' hook: masks ``inputs`` (a [batch, length] tensor) in
        place and returns ``(inputs, labels)``."""
        if self._peer_masks_words():
            return super().torch_mask_tokens(inputs, special_tokens_mask, offset_mapping)
        return inputs, self._mask_tensor(inputs, special_tokens_mask, offset_mapping, "pt")[0]

    def numpy_mask_tokens(self, inputs, special_tokens_mask=None, offset_mapping=None):
        """transformers' hook: masks ``inputs`` (a [batch, length] array) in
        place and returns ``(inputs, labels)``."""
        if self._peer_masks_words():
            return super().numpy_mask_tokens(inputs, special_tokens_mask, offset_mapping)
        return inputs, self._mask_tensor(inputs, special_tokens_mask, offset_mapping, "np")[0]

    def _overrides(self, name) -> bool:
        """Whether the instance's class replaces tf_mlm's method ``name``."""
        return getattr(type(self), name) is not getattr(DataCollatorForLanguageModeling, name)

    def _peer_masks_words(self) -> bool:
        """Whole words with transformers' word helpers overridden: its own
        hook, which calls them, masks the batch."""
        return self.whole_word_mask and any(self._overrides(name) for name in _WORD_HOOKS)

    def _mask_tensor(self, inputs, special_tokens_mask, offset_mapping, kind):
        """Masks ``inputs`` (a tensor or array) in place: (labels of its type
        and dtype, the extension's dense outputs as a dict, possibly empty)."""
        ids = as_numpy(inputs)
        if special_tokens_mask is not None:
            special = as_numpy(special_tokens_mask) != 0
        else:
            special = self._special_positions(ids)
        offsets = None
        if self.whole_word_mask:
            if offset_mapping is None:
                raise ValueError(
                    "whole_word_mask needs the examples' 'offset_mapping' (dicts from a fast "
                    "tokenizer called with return_offsets_mapping=True)"
                )
            offsets = as_numpy(offset_mapping)
        work = ids
        if not (ids.dtype in ID_DTYPES and ids.flags.c_contiguous and ids.flags.writeable):
            work = np.ascontiguousarray(ids, dtype=np.int64)
        labels, positions, mask_ids, weights = self._mask(
            work, special, offsets, seed=seeds.generator_key(self.generator, kind)
        )
        if work is not ids:
            ids[...] = work
            labels = labels.astype(ids.dtype)
        dense = {}
        if positions is not None:
            dense = dict(mask_positions=positions, mask_ids=mask_ids, mask_weights=weights)
        if kind == "pt":
            import torch

            return torch.from_numpy(labels), {k: torch.from_numpy(v) for k, v in dense.items()}
        return labels, dense

    def _special_positions(self, ids):
        """None when the plan's special ids decide (the tokenizer's mask is
        id membership), else the tokenizer's per-row special-tokens mask."""
        if self._current_plan()["special_ids"] is not None:
            return None
        rows = [
            self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
            for row in ids.tolist()
        ]
        return np.asarray(rows, dtype=bool).reshape(ids.shape)

    # -- the plan: the core's options, cached by what they derive from ----------

    def _current_plan(self) -> dict:
        """The core's options for the current fields and tokenizer, rebuilt
        when a field or the tokenizer's special tokens or length change."""
        tok = self.tokenizer
        key = (
            type(tok),
            len(tok),
            tok.mask_token_id,
            tuple(tok.all_special_ids),
            self.mlm_probability,
            self.mask_replace_prob,
            self.random_replace_prob,
            self.selection_mode,
            self.max_selections,
            _fingerprint(self.excluded_ids),
            _fingerprint(self.replacement_frequencies),
            self.mask_selection_length,
            self.span_p,
            self.max_span_length,
            self.whole_word_mask,
        )
        cached_key, plan = self._plan
        if key != cached_key:
            plan = self._make_plan()
            self._plan = (key, plan)
        return plan

    def _make_plan(self) -> dict:
        if self.span_p is not None and (self.whole_word_mask or self.selection_mode != "bernoulli"):
            raise ValueError(
                "span_p (SpanBERT spans, a budget of ceil(n * mlm_probability) tokens) "
                "takes neither whole_word_mask nor selection_mode"
            )
        tok = self.tokenizer
        options = MaskingOptions(
            vocab_size=len(tok),
            mask_token=tok.mask_token_id,
            selection_rate=self.mlm_probability,
            max_selections=self.max_selections,
            selection_mode=self.selection_mode,
            span_p=self.span_p,
            max_span_length=self.max_span_length,
            mask_token_rate=self.mask_replace_prob,
            random_token_rate=self.random_replace_prob,
            excluded_ids=self.excluded_ids,
            replacement_frequencies=self.replacement_frequencies,
            pad_to=self.mask_selection_length,
            names=ARGUMENT_NAMES,
        )
        kwargs = options.core_kwargs()
        if self.span_p is None:  # the padded batch's own ids and axis
            for unused in ("axis", "unselectable_ids"):
                del kwargs[unused]
        return {"special_ids": _special_ids(tok), "options": options, "kwargs": kwargs}

    def _mask(self, input_ids, special, offsets, seed):
        """The core's masking of `input_ids` in place: (labels, then the dense
        positions, ids and weights or three None). ``special``: a bool
        position mask, or None for the tokenizer's special ids."""
        plan = self._current_plan()
        special_ids = plan["special_ids"]
        if special_ids is None or special is not None:
            special_ids = np.zeros(0, np.int64)
        with plan["options"].named():
            if self.span_p is not None:
                return self._mask_spans(input_ids, special, special_ids, seed, plan["kwargs"])
            return _core.mask_padded_batch(
                input_ids,
                special,
                special_ids,
                offsets,
                seed=seed,
                label_fill=LABEL_IGNORE,
                **plan["kwargs"],
            )

    def _mask_spans(self, input_ids, special, special_ids, seed, kwargs):
        """SpanBERT spans over each padded row (the core's span pass). The
        special positions of a special_tokens_mask are shown to the core as
        an id it never selects (-1), and restored."""
        rows, width = input_ids.shape
        flat = input_ids.reshape(-1)
        values = flat
        kwargs = dict(kwargs, unselectable_ids=special_ids)
        if special is not None:
            values = np.where(special.reshape(-1), -1, flat).astype(flat.dtype)
            kwargs["unselectable_ids"] = np.array([-1], np.int64)
        splits = np.arange(rows + 1, dtype=np.int64) * width
        result = MaskResult(*_core.mask_spans(values, [splits], seed=seed, **kwargs), splits)
        flat[...] = (
            result.masked_values
            if special is None
            else np.where(special.reshape(-1), flat, result.masked_values)
        )
        labels = result_labels(result, np.empty_like(input_ids))
        if result.masked_weights is None:
            return labels, None, None, None
        return labels, result.masked_positions, result.masked_ids, result.masked_weights


def _special_ids(tokenizer):
    """The ids the tokenizer's ``get_special_tokens_mask(ids,
    already_has_special_tokens=True)`` marks, as a sorted int64 array, when
    that mask is a function of the id alone: transformers' own tokenizer
    classes (membership in ``all_special_ids``, Marian's leaving out
    ``<unk>``), asked once about each special id. None for a tokenizer class
    defined elsewhere, whose mask is then asked for row by row."""
    method = type(tokenizer).get_special_tokens_mask
    if not getattr(method, "__module__", "").startswith("transformers."):
        return None
    ids = [int(i) for i in tokenizer.all_special_ids]
    if not ids:
        return np.zeros(0, np.int64)
    flags = tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
    return np.unique(np.asarray([i for i, f in zip(ids, flags) if f], dtype=np.int64))


def _fingerprint(value):
    """A hashable stand-in for an option that may be an array (excluded ids,
    frequency tables): its dtype, shape and bytes."""
    if value is None:
        return None
    a = np.asarray(value)
    return (a.dtype.str, a.shape, a.tobytes())
