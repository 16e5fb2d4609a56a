"""A drop-in for transformers' ``DataCollatorForLanguageModeling`` on
tf_mlm's C++ core.

:class:`DataCollatorForLanguageModeling` takes the arguments of
transformers 5.x's class of that name, the same inputs and returns the same
batch: change the import, keep the rest. The masks follow the same law
(each non-special token selected with probability ``mlm_probability``, then
80 % ``[MASK]``, 10 % random id, 10 % kept) but come from tf_mlm's Philox
streams, so they are not transformers' draws. Masking and whole-word
grouping run in C++ on the padded batch. The tokenizer supplies its
special ids, vocabulary size and mask id (read once, when the collator is
made) and its padding (pad ids and side; examples with keys other than
``input_ids``, ``attention_mask``, ``token_type_ids`` and
``special_tokens_mask`` are padded by ``tokenizer.pad`` itself).

Options transformers does not have (keyword-only): ``selection_mode=
"exact"`` (tensorflow_text's exact count), ``max_selections`` (a cap per
sequence), ``whole_word_random_replace`` (keep the 80/10/10 replacement with
whole words), ``span_p`` (SpanBERT spans), ``excluded_ids`` /
``replacement_frequencies`` (the random replacement law) and
``mask_selection_length`` (keras_hub-style ``mask_positions`` /
``mask_ids`` / ``mask_weights`` outputs).

transformers is imported when a collator is made (``pip install
"tf_mlm[hf]"``); importing this module imports neither it nor torch.
"""

from __future__ import annotations

import multiprocessing as mp
import warnings
from collections.abc import Mapping

import numpy as np

from tf_mlm import _core
from tf_mlm._args import ID_DTYPES, resolve_seed
from tf_mlm._options import core_options, replacement_tables
from tf_mlm.collator import LABEL_IGNORE, convert_batch, result_labels
from tf_mlm.numpy import mask_spans

__all__ = ["DataCollatorForLanguageModeling"]

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


class DataCollatorForLanguageModeling:
    """Pads and masks examples as transformers' ``DataCollatorForLanguageModeling``.

    Examples are lists / arrays / tensors of ids, or dicts (``BatchEncoding``)
    with ``input_ids`` and optionally ``attention_mask``, ``token_type_ids``,
    ``special_tokens_mask``, ``offset_mapping`` and other keys, padded by the
    tokenizer (its padding side, ``pad_to_multiple_of``). The batch holds the
    padded keys (without ``special_tokens_mask`` and ``offset_mapping``) and
    ``labels``: the original id at the selected tokens, -100 elsewhere
    (``mlm=False``: the ids, -100 at padding).

    Args (transformers' own, same defaults and checks):
      tokenizer: a transformers tokenizer (a fast one for whole words).
      mlm: mask (True) or causal-LM labels (False).
      whole_word_mask: select whole words (from the examples'
        ``offset_mapping``: a token continues a word when it starts where
        the previous one ends); as in transformers, selected words are all
        ``[MASK]`` unless ``whole_word_random_replace``.
      mlm_probability: probability of selecting each token (word).
      mask_replace_prob, random_replace_prob: shares of the selected tokens
        that become the mask id, a random id in ``[0, len(tokenizer))``;
        the rest stay.
      pad_to_multiple_of: round the padded length up to a multiple of it.
      return_tensors: ``"pt"`` or ``"np"`` (checked when called).
      seed: None (draws from NumPy's or torch's global generator, as
        transformers), or an int: a stream of its own, ``seed + worker id``
        in a DataLoader worker.

    Keyword-only extensions:
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

    def __init__(
        self,
        tokenizer,
        mlm: bool = True,
        whole_word_mask: bool = False,
        mlm_probability=0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        pad_to_multiple_of=None,
        return_tensors: str = "pt",
        seed=None,
        *,
        selection_mode: str = "bernoulli",
        max_selections=None,
        whole_word_random_replace: bool = False,
        excluded_ids=None,
        replacement_frequencies=None,
        mask_selection_length=None,
        span_p=None,
        max_span_length: int = 10,
    ):
        require_transformers()
        self.tokenizer = tokenizer
        self.mlm = mlm
        self.whole_word_mask = whole_word_mask
        self.mlm_probability = mlm_probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.pad_to_multiple_of = pad_to_multiple_of
        self.return_tensors = return_tensors
        self.seed = seed
        self._check_args(whole_word_random_replace)
        self.generator = None
        # The tokenizer's lookups, once.
        self._special_ids = np.unique(np.asarray(tokenizer.all_special_ids, dtype=np.int64))
        self._options = self._spans = None
        if self.mlm:
            options = core_options(
                ragged_rank=1,
                vocab_size=len(tokenizer),
                mask_token=tokenizer.mask_token_id,
                selection_rate=self.mlm_probability,
                max_selections=max_selections,
                unselectable_ids=None,
                mask_token_rate=self.mask_replace_prob,
                random_token_rate=self.random_replace_prob,
                axis=1,
                selection_mode=selection_mode,
                pad_to=mask_selection_length,
                excluded_ids=excluded_ids,
                replacement_frequencies=replacement_frequencies,
                pad_to_name="mask_selection_length",
            )
            for unused in ("axis", "unselectable_ids"):
                del options[unused]
            self._options = options
            if span_p is not None:
                if whole_word_mask or selection_mode != "bernoulli":
                    raise ValueError(
                        "span_p (SpanBERT spans, a budget of ceil(n * mlm_probability) tokens) "
                        "takes neither whole_word_mask nor selection_mode"
                    )
                self._spans = dict(
                    vocab_size=len(tokenizer),
                    mask_token=tokenizer.mask_token_id,
                    selection_rate=self.mlm_probability,
                    max_selections=max_selections,
                    p=span_p,
                    max_span_length=max_span_length,
                    mask_token_rate=self.mask_replace_prob,
                    random_token_rate=self.random_replace_prob,
                    pad_to=mask_selection_length,
                    replacement=replacement_tables(
                        len(tokenizer),
                        excluded_ids=excluded_ids,
                        replacement_frequencies=replacement_frequencies,
                    ),
                )
            # The core checks the options now, on an empty batch.
            self._mask(np.zeros((0, 0), np.int64), None, None, seed=(0, 0))

    def _check_args(self, whole_word_random_replace):
        """transformers' checks and messages, in its order."""
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
            if self.mask_replace_prob < 1 and not whole_word_random_replace:
                warnings.warn(
                    "Random token replacement is not supported with whole word masking. "
                    "Setting mask_replace_prob to 1 (tf_mlm supports it: pass "
                    "whole_word_random_replace=True)."
                )
                self.mask_replace_prob = 1
                self.random_replace_prob = 0
        self.mask_replace_prob = float(self.mask_replace_prob)
        self.random_replace_prob = float(self.random_replace_prob)

    # -- seeding ---------------------------------------------------------------

    def _create_rng(self):
        """The collator's own stream: ``seed``, plus the worker id in a
        DataLoader worker process."""
        seed = self.seed
        if mp.current_process().name != "MainProcess":
            import torch

            info = torch.utils.data.get_worker_info()
            if info is None:
                raise ValueError(
                    "Worker process information is not available for seeding the generator. "
                    "This may be because you are using multiprocessing without using a PyTorch "
                    "DataLoader. The `seed` parameter can only be used when using "
                    "multiprocessing with a PyTorch DataLoader. Please either use a single "
                    "process or use a PyTorch DataLoader with multiple workers."
                )
            seed = seed + info.id
        self.generator = np.random.default_rng(seed)

    def _philox_seed(self, return_tensors):
        if self.generator is not None:
            return resolve_seed(self.generator)
        if return_tensors == "pt":  # torch's global generator, as transformers
            import torch

            # Two int64 draws over [0, 2**63): the Philox key.
            return tuple(int(x) for x in torch.empty(2, dtype=torch.int64).random_().tolist())
        return tuple(int(x) for x in np.random.randint(0, 2**62, size=2, dtype=np.int64))

    # -- collation -------------------------------------------------------------

    def __call__(self, features, return_tensors=None):
        if return_tensors is None:
            return_tensors = self.return_tensors
        if return_tensors not in ("pt", "np"):
            raise ValueError(f"Framework '{return_tensors}' not recognized!")
        if self.seed is not None and self.generator is None:
            self._create_rng()
        batch, offsets = self._pad(features, return_tensors)
        special = batch.pop("special_tokens_mask", None)
        input_ids = _numpy(batch["input_ids"])
        if not self.mlm:
            labels = input_ids.copy()
            if self.tokenizer.pad_token_id is not None:
                labels[labels == self.tokenizer.pad_token_id] = LABEL_IGNORE
            batch["labels"] = convert_batch({"labels": labels}, return_tensors)["labels"]
            return batch
        if self.whole_word_mask:
            if offsets is None:
                raise ValueError(
                    "whole_word_mask needs the examples' 'offset_mapping' (dicts from a fast "
                    "tokenizer called with return_offsets_mapping=True)"
                )
            offsets = pad_offsets(offsets, input_ids.shape[1], self.tokenizer.padding_side)
        else:
            offsets = None
        if special is not None:
            special = _numpy(special) != 0
        work = input_ids
        if not (
            input_ids.dtype in ID_DTYPES
            and input_ids.flags.c_contiguous
            and input_ids.flags.writeable
        ):
            work = np.ascontiguousarray(input_ids, dtype=np.int64)
        labels, positions, ids, weights = self._mask(
            work, special, offsets, seed=self._philox_seed(return_tensors)
        )
        if work is not input_ids:
            input_ids[...] = work
            labels = labels.astype(input_ids.dtype)
        extra = {"labels": labels}
        if positions is not None:
            extra.update(mask_positions=positions, mask_ids=ids, mask_weights=weights)
        batch.update(convert_batch(extra, return_tensors))
        return batch

    def _pad(self, features, return_tensors):
        """(the padded batch, the examples' offset_mapping or None)."""
        if not isinstance(features[0], Mapping):
            ids = pad_ids(features, self.tokenizer, self.pad_to_multiple_of, return_tensors)
            return {"input_ids": convert_batch({"ids": ids}, return_tensors)["ids"]}, None
        offsets = None
        if "offset_mapping" in features[0]:
            # Padded later: the tokenizer leaves examples' offsets ragged.
            offsets = [f["offset_mapping"] for f in features]
            features = [{k: v for k, v in f.items() if k != "offset_mapping"} for f in features]
        batch = pad_encodings(self.tokenizer, features, self.pad_to_multiple_of)
        if batch is not None:
            return require_transformers().BatchEncoding(
                convert_batch(batch, return_tensors)
            ), offsets
        from transformers.data.data_collator import pad_without_fast_tokenizer_warning

        batch = pad_without_fast_tokenizer_warning(
            self.tokenizer,
            features,
            return_tensors=return_tensors,
            pad_to_multiple_of=self.pad_to_multiple_of,
        )
        return batch, offsets

    def _mask(self, input_ids, special, offsets, seed):
        """The core's masking of `input_ids` in place: (labels, then the dense
        positions, ids and weights or three None)."""
        if self._spans is not None:
            return self._mask_spans(input_ids, special, seed)
        return _core.mask_padded_batch(
            input_ids,
            special,
            self._special_ids[:0] if special is not None else self._special_ids,
            offsets,
            seed=seed,
            label_fill=LABEL_IGNORE,
            **self._options,
        )

    def _mask_spans(self, input_ids, special, seed):
        """SpanBERT spans over each padded row (tf_mlm.numpy.mask_spans). The
        special positions of a special_tokens_mask are shown to the core as
        an id it never selects (-1), and restored."""
        rows, width = input_ids.shape
        flat = input_ids.reshape(-1)
        unselectable = self._special_ids
        values = flat
        if special is not None:
            values = np.where(special.reshape(-1), -1, flat).astype(flat.dtype)
            unselectable = np.array([-1], np.int64)
        result = mask_spans(
            values,
            np.arange(rows + 1, dtype=np.int64) * width,
            unselectable_ids=unselectable,
            seed=seed,
            **self._spans,
        )
        flat[...] = (
            result.masked_values
            if special is None
            else np.where(special.reshape(-1), flat, result.masked_values)
        )
        labels = result_labels(result, np.empty_like(input_ids))
        if result.masked_weights is None:
            return labels, None, None, None
        return labels, result.masked_positions, result.masked_ids, result.masked_weights


def _numpy(x) -> np.ndarray:
    """A NumPy view of an array or (CPU) torch tensor, else an array of it."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy") and hasattr(x, "detach"):
        return x.detach().numpy()
    return np.asarray(x)


def pad_ids(examples, tokenizer, pad_to_multiple_of, return_tensors) -> np.ndarray:
    """Id sequences (lists, arrays, tensors) as one [batch, length] array,
    padded as transformers pads them (the tokenizer's pad id and side; lists
    become int64, and with ``"pt"`` arrays too; tensors keep their dtype)."""
    to_int64 = isinstance(examples[0], (list, tuple)) or (
        return_tensors == "pt" and isinstance(examples[0], np.ndarray)
    )
    arrays = [np.asarray(e, dtype=np.int64) if to_int64 else _numpy(e) for e in examples]
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
    width = max(len(a) for a in arrays)
    if pad_to_multiple_of is not None:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    out = np.full((len(arrays), width), tokenizer.pad_token_id, dtype=arrays[0].dtype)
    right = tokenizer.padding_side == "right"
    for row, a in zip(out, arrays):
        if right:
            row[: len(a)] = a
        elif len(a):
            row[-len(a) :] = a
    return out


# The keys tokenizer.pad pads, and their fill (None: the pad id).
PAD_FILL = {
    "input_ids": None,
    "token_type_ids": "type",
    "attention_mask": 0,
    "special_tokens_mask": 1,
}


def pad_encodings(tokenizer, features, pad_to_multiple_of):
    """What ``tokenizer.pad(features, pad_to_multiple_of=...)`` returns, as a
    dict of int64 arrays, for the usual case: dicts of the same keys among
    :data:`PAD_FILL`, 1-D integer sequences of one length per example, a
    tokenizer whose main input is ``input_ids``, with an attention mask and a
    pad id. None otherwise (the caller then asks the tokenizer). The same
    keys in the same order (``attention_mask`` appended when missing), the
    same fills and padding side, without the tokenizer's per-token Python."""
    keys = list(features[0].keys())
    names = tokenizer.model_input_names
    if (
        not names
        or names[0] != "input_ids"
        or "attention_mask" not in names
        or tokenizer.pad_token_id is None
        or "input_ids" not in keys
        or not set(keys) <= PAD_FILL.keys()
    ):
        return None
    columns = {}
    for key in keys:
        column = []
        for f in features:
            if not isinstance(f, Mapping) or len(f) != len(keys) or key not in f:
                return None
            a = _numpy(f[key])
            if a.ndim != 1 or a.dtype.kind not in "iub":
                return None
            column.append(a)
        columns[key] = column
    lengths = [len(a) for a in columns["input_ids"]]
    if any([len(a) for a in column] != lengths for column in columns.values()):
        return None
    if "attention_mask" not in columns:
        columns["attention_mask"] = [np.ones(n, np.int64) for n in lengths]
    width = max(lengths) if lengths else 0
    if pad_to_multiple_of is not None and width % pad_to_multiple_of:
        width = (width // pad_to_multiple_of + 1) * pad_to_multiple_of
    right = tokenizer.padding_side == "right"
    fills = dict(
        PAD_FILL, input_ids=tokenizer.pad_token_id, token_type_ids=tokenizer.pad_token_type_id
    )
    batch = {}
    for key, column in columns.items():
        out = np.full((len(column), width), fills[key], np.int64)
        for row, a in zip(out, column):
            if right:
                row[: len(a)] = a
            elif len(a):
                row[-len(a) :] = a
        batch[key] = out
    return batch


def pad_offsets(offsets, width, padding_side) -> np.ndarray:
    """The examples' ``offset_mapping`` ((start, end) per token, lists, arrays
    or tensors of any lengths) as an int64 [batch, width, 2] array aligned
    with the padded ids; 0 on the padding (special tokens, never words)."""
    out = np.zeros((len(offsets), width, 2), np.int64)
    for row, o in zip(out, offsets):
        a = np.asarray(_numpy(o), dtype=np.int64).reshape(-1, 2)
        if a.shape[0] > width:
            raise ValueError(
                f"an example's offset_mapping has {a.shape[0]} entries, more than the "
                f"{width} tokens of the padded batch"
            )
        if padding_side == "right":
            row[: a.shape[0]] = a
        elif a.shape[0]:
            row[-a.shape[0] :] = a
    return out
