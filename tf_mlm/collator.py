"""A masked-LM batch collator for PyTorch / JAX / NumPy pipelines.

[MLMCollator][tf_mlm.collator.MLMCollator] does the job of HuggingFace's
``DataCollatorForLanguageModeling`` (pad a list of examples, mask them,
return ``input_ids`` / ``labels`` / ``attention_mask``) on tf_mlm's C++
core, with no TensorFlow and no tokenizer. It is named ``MLMCollator``
rather than after the HuggingFace class because it is not a drop-in for
it: it takes the few ids it needs (vocabulary size, mask, pad and special
ids) instead of a tokenizer, and its default selection law is
tensorflow_text's exact count (``selection_mode="bernoulli"`` gives
HuggingFace's per-token coin flips).

Importing this module imports neither TensorFlow nor torch nor jax; torch
or jax is imported on the first call that asks for its tensors.
"""

from __future__ import annotations

import sys
import threading
from typing import Dict, Optional, Tuple

import numpy as np

from tf_mlm import _core
from tf_mlm import numpy as _mlm
from tf_mlm._shared.args import int_arg, is_int, vector
from tf_mlm._shared.batching import LABEL_IGNORE as LABEL_IGNORE  # importable from here, as before
from tf_mlm._shared.batching import convert_batch, pad_rows, padded_width, result_labels
from tf_mlm._shared.seeds import philox_key
from tf_mlm.options import MASK_TOKEN_RATE, RANDOM_TOKEN_RATE, SELECTION_RATE, MaskingOptions

__all__ = ["MLMCollator"]


class _Recycler:
    """The dense arrays of the previous batch, handed out again once nothing
    but this cache references them.

    A fresh megabyte-sized array costs more in page faults (the allocator
    returns it to the OS when freed, and the OS zeroes every page again) than
    masking the batch does. An array is reused only when CPython's reference
    count shows that no batch, view, torch/jax tensor or other object still
    holds it, so a batch the caller keeps is never overwritten.
    """

    def __init__(self):
        self._arrays: Dict[str, np.ndarray] = {}
        self._lock = threading.Lock()  # one collator may serve several threads

    def array(self, name: str, shape: Tuple[int, int], dtype) -> np.ndarray:
        """A [rows, width] array (uninitialised): the cached one for `name`
        when free and of this shape and dtype, else a new one, cached."""
        return self._take(
            name, lambda a: a.shape == shape and a.dtype == dtype, lambda: np.empty(shape, dtype)
        )

    def _take(self, name, fits, make) -> np.ndarray:
        # Under the lock, and the caller holds the result from here on: no
        # other thread sees the array free until the caller drops it.
        with self._lock:
            array = self._arrays.get(name)
            # 3 references when free: the dict, `array`, getrefcount's argument
            if array is None or sys.getrefcount(array) > 3 or not fits(array):
                array = self._arrays[name] = make()
            return array

    def __getstate__(self):  # a pickled collator (DataLoader workers) starts empty
        return {}

    def __setstate__(self, state):
        del state
        self.__init__()


class MLMCollator:
    """Pads and masks a list of examples into a masked-LM batch.

    Each example is a 1-D sequence of token ids (a list or NumPy array), or
    a dict with an ``"input_ids"`` sequence (other keys are ignored). Every
    call draws fresh masks from the collator's random stream.

    The batch is a dict of ``[batch, length]`` arrays, ``length`` being the
    longest example rounded up to ``pad_to_multiple_of``:

    * ``input_ids``: the masked ids, right-padded with ``pad_token``;
    * ``labels``: the original id where a token was selected for masking
      (whether it became ``mask_token``, a random id or stayed), ``-100``
      elsewhere (padding included);
    * ``attention_mask``: 1 on the examples' tokens, 0 on padding;
    * with ``mask_selection_length=K`` also keras_hub-style ``[batch, K]``
      ``mask_positions`` (ascending, 0-padded), ``mask_ids`` (original ids,
      0-padded) and float32 ``mask_weights`` (1.0 / 0.0); at most ``K``
      tokens per row are then masked.

    Integer outputs have the examples' dtype (int64 for Python lists);
    ``mask_positions`` is int64.

    >>> collate = MLMCollator(vocab_size=200, mask_token=103, pad_token=0,
    ...                       unselectable_ids=[101, 102], selection_rate=0.3,
    ...                       pad_to_multiple_of=4, seed=0)
    >>> batch = collate([[101, 7, 8, 9, 10, 102], [101, 11, 102]])
    >>> sorted(batch)
    ['attention_mask', 'input_ids', 'labels']
    >>> batch["attention_mask"]
    array([[1, 1, 1, 1, 1, 1, 0, 0],
           [1, 1, 1, 0, 0, 0, 0, 0]])
    >>> ((batch["labels"] != -100).sum(axis=1)).tolist()  # ceil(4 * 0.3), ceil(1 * 0.3)
    [2, 1]
    >>> original = np.array([[101, 7, 8, 9, 10, 102, 0, 0], [101, 11, 102, 0, 0, 0, 0, 0]])
    >>> bool(np.all((batch["labels"] == -100) | (batch["labels"] == original)))
    True
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        mask_token: int,
        pad_token: int = 0,
        unselectable_ids=(),
        selection_rate: float = SELECTION_RATE,
        max_selections: Optional[int] = None,
        mask_token_rate: float = MASK_TOKEN_RATE,
        random_token_rate: float = RANDOM_TOKEN_RATE,
        selection_mode: str = "exact",
        pad_to_multiple_of: Optional[int] = None,
        mask_selection_length: Optional[int] = None,
        return_tensors: str = "np",
        seed=None,
        continuation_table=None,
        excluded_ids=None,
        replacement_frequencies=None,
    ):
        """Args:
        vocab_size: random replacement ids are drawn from ``[0, vocab_size)``.
        mask_token: the mask id.
        pad_token: the padding id of ``input_ids``. It is never selected
          for masking (as HuggingFace treats padding as a special token).
        unselectable_ids: ids never selected, e.g. ``[CLS]`` and ``[SEP]``.
        selection_rate: fraction (``"exact"``) or probability
          (``"bernoulli"``) of the selectable tokens of an example to select.
        max_selections: cap on the tokens selected per example; None: none.
        mask_token_rate: probability that a selected token becomes
          ``mask_token`` (BERT: 0.8).
        random_token_rate: probability that it becomes a random id (0.1).
        selection_mode: ``"exact"`` (``min(ceil(n * rate), cap)`` tokens
          per example, tensorflow_text's law) or ``"bernoulli"`` (each
          token independently, HuggingFace's law).
        pad_to_multiple_of: round the padded length up to a multiple of it.
        mask_selection_length: when set, also return ``mask_positions``,
          ``mask_ids`` and ``mask_weights`` of this length.
        return_tensors: ``"np"``, ``"pt"`` (torch) or ``"jax"``.
        seed: None (fresh entropy), an int or a ``numpy.random.Generator``:
          seeds the stream from which every call draws its Philox seed.
        continuation_table: whole-word masking (BERT's whole word masking,
          HuggingFace's ``DataCollatorForWholeWordMask``): a bool vector
          over the vocabulary, True for ids that continue the previous word
          (``tf_mlm.numpy.wordpiece_continuation_table``); words, not
          tokens, are then selected (rate and cap count words).
        excluded_ids: ids never drawn as random replacements.
        replacement_frequencies: ``vocab_size`` weights: random
          replacements drawn in proportion (fairseq's
          ``freq_weighted_replacement``); the alias tables are built once,
          here.
        """
        self.vocab_size = int_arg("vocab_size", vocab_size)
        self.mask_token = int_arg("mask_token", mask_token)
        self.pad_token = int_arg("pad_token", pad_token)
        ids = vector("unselectable_ids", unselectable_ids)
        self.unselectable_ids = np.union1d(ids.astype(np.int64), [self.pad_token])
        _check_pad_to_multiple_of(pad_to_multiple_of)
        _check_return_tensors(return_tensors)
        _check_seed(seed)
        self.continuation_table = _continuation_table(continuation_table)
        self.pad_to_multiple_of = pad_to_multiple_of
        self.mask_selection_length = mask_selection_length
        self.return_tensors = return_tensors
        self._options = MaskingOptions(
            vocab_size=self.vocab_size,
            mask_token=self.mask_token,
            selection_rate=selection_rate,
            max_selections=max_selections,
            unselectable_ids=self.unselectable_ids,
            selection_mode=selection_mode,
            mask_token_rate=mask_token_rate,
            random_token_rate=random_token_rate,
            excluded_ids=excluded_ids,
            replacement_frequencies=replacement_frequencies,
            pad_to=mask_selection_length,
            names={"pad_to": "mask_selection_length"},
        ).core_kwargs()
        self._rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self._buffers = _Recycler()
        # Fail now, not on the first batch, on bad rates or ids.
        self._mask(np.zeros(0, np.int64), np.zeros(1, np.int64), seed=(0, 0))

    def _mask(self, values, splits, seed) -> _mlm.MaskResult:
        """mask_ragged in place on `values`, an array of the collator's own
        (never the caller's); whole words when a continuation table is set."""
        nested = (
            [splits]
            if self.continuation_table is None
            else _mlm.group_words(values, splits, self.continuation_table)
        )
        return _mlm.MaskResult(
            *_core.mask_language_model(
                values, nested, seed=seed, out_values=values, **self._options
            )
        )

    def _width(self, lengths) -> int:
        return padded_width(int(lengths.max(initial=0)), self.pad_to_multiple_of)

    def _collate_padded(self, examples, lengths, dtype):
        """Fast path (token-level masking, NumPy examples of one dtype): pads
        the examples straight into ``input_ids`` and masks that array in
        place, each row of width ``width`` being one row of the ragged batch.
        Padding is unselectable (``pad_token`` is), so the rows give the same
        counts, draws and positions as the unpadded ones: the same batch as
        the general path, bit for bit."""
        rows, width = lengths.shape[0], self._width(lengths)
        shape = (rows, width)
        input_ids = self._buffers.array("input_ids", shape, dtype)
        attention_mask = self._buffers.array("attention_mask", shape, dtype)
        pad_rows(examples, width, self.pad_token, out=input_ids, mask_out=attention_mask)
        splits = np.arange(rows + 1, dtype=np.int64) * width
        result = self._mask(input_ids.reshape(-1), splits, philox_key(self._rng))
        return input_ids, attention_mask, result

    def _collate_ragged(self, examples):
        """General path: any sequences (lists, mixed dtypes...), converted and
        checked, masked as a ragged batch, then padded."""
        sequences = [_input_ids(e, i) for i, e in enumerate(examples)]
        values, nested = _mlm.ragged_from_sequences(sequences)
        if len(nested) != 1:
            raise ValueError("examples must be 1-D sequences of token ids")
        splits = nested[0]
        result = self._mask(values, splits, philox_key(self._rng))
        lengths = np.diff(splits)
        shape, dtype = (lengths.shape[0], self._width(lengths)), values.dtype
        input_ids = self._buffers.array("input_ids", shape, dtype)
        attention_mask = self._buffers.array("attention_mask", shape, dtype)
        _core.ragged_to_dense(
            result.masked_values,
            splits,
            shape[1],
            self.pad_token,
            out=input_ids,
            mask_out=attention_mask,
        )
        return input_ids, attention_mask, result

    def __call__(self, examples) -> dict:
        """Collates ``examples`` (a list of id sequences or of dicts with
        ``"input_ids"``) into a masked batch; see the class docstring."""
        if not isinstance(examples, (list, tuple)):
            raise TypeError(
                "`examples` must be a list of id sequences or of dicts with "
                f"'input_ids', got {type(examples).__name__}"
            )
        # (lengths, dtype) when every example is a 1-D NumPy array of one id
        # dtype (the usual case); None otherwise
        arrays = _core.sequence_lengths(examples) if self.continuation_table is None else None
        if arrays is not None:
            input_ids, attention_mask, result = self._collate_padded(examples, *arrays)
        else:
            input_ids, attention_mask, result = self._collate_ragged(examples)
        labels = result_labels(
            result, self._buffers.array("labels", input_ids.shape, input_ids.dtype)
        )
        batch = {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
        if result.masked_weights is not None:
            batch["mask_positions"] = result.masked_positions
            batch["mask_ids"] = result.masked_ids
            batch["mask_weights"] = result.masked_weights
        return convert_batch(batch, self.return_tensors)


def _check_pad_to_multiple_of(pad_to_multiple_of) -> None:
    if pad_to_multiple_of is not None and int_arg("pad_to_multiple_of", pad_to_multiple_of) < 1:
        raise ValueError(f"`pad_to_multiple_of` must be >= 1, got {pad_to_multiple_of}")


def _check_return_tensors(return_tensors) -> None:
    if return_tensors not in ("np", "pt", "jax"):
        raise ValueError(f"`return_tensors` must be 'np', 'pt' or 'jax', got {return_tensors!r}")


def _check_seed(seed) -> None:
    if isinstance(seed, (bool, np.bool_)) or not (
        seed is None or isinstance(seed, np.random.Generator) or is_int(seed)
    ):
        raise TypeError(
            f"`seed` must be None, an int or a numpy.random.Generator, got {type(seed).__name__}"
        )


def _continuation_table(continuation_table) -> Optional[np.ndarray]:
    """The whole-word table as a bool vector, or None; checked now, on a
    one-row batch, rather than on the first call."""
    if continuation_table is None:
        return None
    _mlm.group_words(np.zeros(1, np.int64), np.array([0, 1]), continuation_table)
    return np.asarray(continuation_table).astype(bool).reshape(-1)


def _input_ids(example, index):
    if isinstance(example, dict):
        if "input_ids" not in example:
            raise ValueError(f"examples[{index}] is a dict without an 'input_ids' key")
        return example["input_ids"]
    return example
