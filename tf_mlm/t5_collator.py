"""T5 span corruption as a data collator: a drop-in for the
``DataCollatorForT5MLM`` of transformers' Flax example
``examples/flax/language-modeling/run_t5_mlm_flax.py``
(``FlaxDataCollatorForT5MLM`` there), for NumPy, PyTorch and JAX pipelines.

[DataCollatorForT5MLM][tf_mlm.t5_collator.DataCollatorForT5MLM] takes the
example's seven fields and gives its batch: ``input_ids`` of
``input_length`` (non-noise tokens, one sentinel per noise span, EOS),
``labels`` of ``target_length`` (one sentinel per non-noise span, the noise
tokens, EOS) and ``decoder_input_ids`` (the labels shifted right after
``decoder_start_token_id``), int64 arrays in a transformers ``BatchEncoding``
(a dict when transformers is not installed), with every other key of the
examples stacked as it is. The k-th span of a row becomes the sentinel
``len(tokenizer) - k``. A whole batch is one call into tf_mlm's C++
span-corruption core (``tf_mlm._core.span_corruption``).

The law is the example's: a row of ``L`` tokens has
``round(L * noise_density)`` noise tokens (clamped to ``[1, L - 1]``) in
``round(min(noise, L - round(L * noise_density)) / mean_noise_span_length)``
spans (at least 1), the noise lengths and the non-noise lengths each a
uniformly random composition into that many parts, interleaved starting with
non-noise. The draws are Philox streams, not NumPy's: by default each batch's
key is drawn from NumPy's global generator (``np.random.seed(s)`` makes runs
repeat, as it does for the example); ``seed=`` gives the collator a stream of
its own.

Nothing here imports TensorFlow, seqio or (until a batch is made)
transformers.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Any, Tuple

import numpy as np

from tf_mlm import _core
from tf_mlm._shared import seeds, t5_lengths
from tf_mlm.collator import _check_seed

__all__ = ["DataCollatorForT5MLM", "compute_input_and_target_lengths"]

# Extensions are keyword-only where dataclasses allow it (Python >= 3.10).
_EXTENSION = {"kw_only": True} if sys.version_info >= (3, 10) else {}
_HOOKS = ("create_sentinel_ids", "filter_input_ids", "random_spans_noise_mask")
_RETURN_TENSORS = ("np", "pt")


def compute_input_and_target_lengths(inputs_length, noise_density, mean_noise_span_length):
    """The example's (and t5's ``random_spans_helper``'s) lengths:
    ``(tokens_length, targets_length)``, the longest raw sequence whose
    corrupted inputs (non-noise tokens, a sentinel per noise span, EOS) fit
    in ``inputs_length`` tokens, and the length of its targets (noise
    tokens, a sentinel per span, EOS). At ``noise_density == 0.5`` the raw
    length is cut by one when the targets would come out longer than the
    inputs.

    >>> compute_input_and_target_lengths(512, 0.15, 3.0)
    (568, 114)
    """

    tokens, targets, _ = t5_lengths.raw_lengths(
        inputs_length, noise_density, mean_noise_span_length, start=inputs_length
    )
    return tokens, targets


def noise_counts(length, noise_density, mean_noise_span_length) -> Tuple[int, int]:
    """``(noise tokens, noise spans)`` of a row of ``length`` tokens under the
    example's law (see the module docstring)."""
    drawn = int(np.round(length * noise_density))
    noise = min(max(drawn, 1), length - 1)
    spans = int(np.round(min(noise, length - drawn) / mean_noise_span_length))
    return noise, max(spans, 1)


def _kernel_rates(length: int, noise: int, spans: int) -> Tuple[float, float]:
    """A float32 density and mean span length from which the core's count
    (t5's float32 arithmetic) gives exactly ``noise`` tokens in ``spans``
    spans for rows of ``length`` tokens; density 0 (no noise) for rows too
    short to hold noise and non-noise."""
    if length < 2 or noise < 1:
        return 0.0, 1.0
    f32 = np.float32
    density, mean = f32(noise / length), f32(noise / spans)
    for _ in range(4):  # float32 rounding: at most a step or two off
        got = int(np.rint(f32(length) * density))
        if got == noise:
            break
        density = np.nextafter(density, f32(np.inf if got < noise else -np.inf))
    for _ in range(4):
        got = int(np.rint(f32(noise) / mean))
        if got == spans:
            break
        mean = np.nextafter(mean, f32(-np.inf if got < spans else np.inf))
    if int(np.rint(f32(length) * density)) != noise or int(np.rint(f32(noise) / mean)) != spans:
        raise ValueError(
            f"rows of {length} tokens are too long for the span-corruption kernel's float32 "
            f"counts ({noise} noise tokens in {spans} spans)"
        )
    return float(density), float(mean)


def _same(a, b) -> bool:
    return a is b or (type(a) is type(b) and not isinstance(a, np.random.Generator) and a == b)


def _worker_id():
    """The id of the PyTorch DataLoader worker running this, else None."""
    data = sys.modules.get("torch.utils.data")
    info = data.get_worker_info() if data is not None else None
    return None if info is None else info.id


@dataclasses.dataclass
class DataCollatorForT5MLM:
    """T5 span corruption of a batch of equally long examples, as the Flax
    example's ``DataCollatorForT5MLM``.

    Fields (the example's, in its order):
      tokenizer: anything with ``len()`` (sentinels count down from
        ``len(tokenizer) - 1``) and ``eos_token_id`` (a transformers
        tokenizer).
      noise_density: the share of noise tokens (T5: 0.15).
      mean_noise_span_length: the mean length of a noise span (T5: 3).
      input_length, target_length: the lengths the batch's ``input_ids`` and
        ``labels`` must have (``compute_input_and_target_lengths`` gives the
        examples' length for them); a ``ValueError`` otherwise.
      pad_token_id, decoder_start_token_id: of the model; ``decoder_input_ids``
        start with ``decoder_start_token_id``.

    Extensions (keyword-only on Python >= 3.10; the defaults leave the
    example's behaviour):
      seed: None (each batch's Philox key drawn from NumPy's global
        generator, so ``np.random.seed`` repeats runs), an int or a
        ``numpy.random.Generator``: the collator's own stream of keys (in a
        PyTorch DataLoader worker an int seeds a stream per worker).
      return_tensors: ``"np"`` (NumPy arrays, the example's) or ``"pt"``
        (torch tensors, int64 ids).

    Fields are read when a batch is made, so changing one takes effect at
    the next batch. The helpers ``random_spans_noise_mask``,
    ``create_sentinel_ids`` and ``filter_input_ids`` behave as the example's;
    while none is overridden a batch is made in one C++ call, and a subclass
    that overrides one (or an instance given one as an attribute) gets the
    example's steps, calling its methods.

    >>> class Tokenizer:
    ...     eos_token_id = 1
    ...     def __len__(self):
    ...         return 100
    >>> collate = DataCollatorForT5MLM(Tokenizer(), 0.15, 3.0, input_length=19,
    ...                                target_length=5, pad_token_id=0,
    ...                                decoder_start_token_id=0, seed=0)
    >>> batch = collate([{"input_ids": np.arange(2, 22)}, {"input_ids": np.arange(22, 42)}])
    >>> {k: v.shape for k, v in batch.items()}
    {'input_ids': (2, 19), 'labels': (2, 5), 'decoder_input_ids': (2, 5)}
    >>> batch["labels"][:, [0, 4]].tolist()  # 3 noise tokens in 1 span, after 99; EOS
    [[99, 1], [99, 1]]
    """

    tokenizer: Any
    noise_density: float
    mean_noise_span_length: float
    input_length: int
    target_length: int
    pad_token_id: int
    decoder_start_token_id: int
    seed: Any = dataclasses.field(default=None, **_EXTENSION)
    return_tensors: str = dataclasses.field(default="np", **_EXTENSION)

    def __post_init__(self):
        _check_seed(self.seed)
        self._check_return_tensors()
        self._stream = (None, None, None)  # (seed, worker id, generator)

    # -- the batch ---------------------------------------------------------------

    def __call__(self, examples):
        """Corrupts ``examples`` (a list of dicts whose ``input_ids`` all
        have one length) into the batch described in the class docstring."""
        self._check_return_tensors()
        batch = {key: np.array([e[key] for e in examples]) for key in examples[0].keys()}
        input_ids = batch["input_ids"]
        if input_ids.ndim != 2:
            raise ValueError(
                "the examples' `input_ids` must be sequences of one length (a [batch, length] "
                f"array), got an array of shape {input_ids.shape}"
            )
        if self._hooks_replaced():
            batch["input_ids"], batch["labels"] = self._composed(input_ids)
        else:
            batch["input_ids"], batch["labels"] = self._fused(input_ids)
        for key, length in (("input_ids", self.input_length), ("labels", self.target_length)):
            got = batch[key].shape[-1]
            if got != length:
                raise ValueError(
                    f"`{key}` are incorrectly preprocessed. `{key}` length is {got}, but should "
                    f"be {length}."
                )
        batch["decoder_input_ids"] = _shift_right(
            batch["labels"], self.pad_token_id, self.decoder_start_token_id
        )
        return self._container(batch)

    def _hooks_replaced(self) -> bool:
        """Whether a subclass (or the instance) replaces one of the helpers."""
        return any(
            h in vars(self) or getattr(type(self), h) is not getattr(DataCollatorForT5MLM, h)
            for h in _HOOKS
        )

    def _fused(self, input_ids):
        """The inputs and labels of the whole batch from one core call."""
        if not np.issubdtype(input_ids.dtype, np.integer):
            raise TypeError(f"`input_ids` must hold integer ids, got dtype {input_ids.dtype}")
        rows, length = input_ids.shape
        out = self._corrupt(np.ascontiguousarray(input_ids, np.int64).reshape(-1), rows, length)
        eos = self.tokenizer.eos_token_id
        return (
            _append_column(out["inputs"].reshape(rows, -1), eos),
            _append_column(out["targets"].reshape(rows, -1), eos),
        )

    def _composed(self, input_ids):
        """The example's steps through the (possibly overridden) helpers."""
        rows, length = input_ids.shape
        noise = np.asarray([self.random_spans_noise_mask(length) for _ in range(rows)])
        input_sentinels = self.create_sentinel_ids(noise.astype(np.int8))
        label_sentinels = self.create_sentinel_ids((~noise).astype(np.int8))
        return (
            self.filter_input_ids(input_ids, input_sentinels),
            self.filter_input_ids(input_ids, label_sentinels),
        )

    def _corrupt(self, values, rows: int, length: int) -> dict:
        """``_core.span_corruption`` of ``rows`` rows of ``length`` tokens
        (``values`` flat), with the example's counts and a fresh key."""
        noise, spans = noise_counts(length, self.noise_density, self.mean_noise_span_length)
        density, mean = _kernel_rates(length, noise, spans)
        splits = np.arange(rows + 1, dtype=np.int64) * length
        return _core.span_corruption(
            values,
            splits,
            seeds.span_mask_seeds(self._key(), rows),
            density,
            mean,
            False,
            len(self.tokenizer) - 1,
        )

    def _key(self) -> Tuple[int, int]:
        """A batch's Philox key: from NumPy's global generator (``seed`` None)
        or the collator's stream."""
        if self.seed is None:
            return seeds.generator_key(None, "np")
        worker = _worker_id()
        seed, stream_worker, generator = self._stream
        if generator is None or not _same(seed, self.seed) or stream_worker != worker:
            _check_seed(self.seed)
            if isinstance(self.seed, np.random.Generator):
                generator = self.seed
            else:
                spawn_key = () if worker is None else (worker,)
                generator = np.random.default_rng(
                    np.random.SeedSequence(self.seed, spawn_key=spawn_key)
                )
            self._stream = (self.seed, worker, generator)
        return seeds.philox_key(generator)

    def _check_return_tensors(self):
        if self.return_tensors not in _RETURN_TENSORS:
            raise ValueError(f"`return_tensors` must be 'np' or 'pt', got {self.return_tensors!r}")

    def _container(self, batch: dict):
        if self.return_tensors == "pt":
            import torch

            batch = {
                k: torch.from_numpy(v) if v.dtype.kind in "biuf" else v for k, v in batch.items()
            }
        return _batch_type()(batch)

    # -- the example's helpers (its extension points) ----------------------------

    def random_spans_noise_mask(self, length):
        """The noise mask (bool, ``[length]``) of one row of ``length``
        tokens, drawn under the example's law with a fresh key."""
        out = self._corrupt(np.zeros(length, np.int64), 1, length)
        return out["noise_mask"]

    def create_sentinel_ids(self, mask_indices):
        """``[batch, length]`` int64 ids for a 0/1 mask: the first position
        of the k-th run of ones of a row holds ``len(tokenizer) - k``, the
        rest of the run -1, the other positions 0."""
        on = np.asarray(mask_indices) != 0
        first = on.copy()
        first[:, 1:] &= ~on[:, :-1]
        out = np.where(first, len(self.tokenizer) - np.cumsum(first, axis=-1), 0)
        out[on & ~first] = -1
        return out

    def filter_input_ids(self, input_ids, sentinel_ids):
        """Each row of ``input_ids`` with its nonzero ``sentinel_ids`` in
        place of the ids, the negative ones dropped, and EOS appended."""
        merged = np.where(sentinel_ids != 0, sentinel_ids, input_ids)
        keep = merged >= 0
        rows = merged.shape[0]
        return _append_column(merged[keep].reshape(rows, -1), self.tokenizer.eos_token_id)


@functools.lru_cache(maxsize=None)
def _batch_type():
    """transformers' ``BatchEncoding`` (the example's batch), or ``dict``
    when transformers is not installed; imported at the first batch."""
    try:
        from transformers.tokenization_utils_base import BatchEncoding
    except ImportError:
        return dict
    return BatchEncoding


def _append_column(ids, value):
    """``ids`` ([rows, n]) with a last column of ``value``, in the dtype the
    example gets (its ids concatenated with an int32 column)."""
    out = np.empty((ids.shape[0], ids.shape[1] + 1), np.result_type(ids.dtype, np.int32))
    out[:, :-1] = ids
    out[:, -1] = value
    return out


def _shift_right(labels, pad_token_id, decoder_start_token_id):
    """transformers' ``shift_tokens_right``: ``decoder_start_token_id``, then
    the labels but the last, -100 read as ``pad_token_id``."""
    out = np.empty_like(labels)
    out[:, 0] = decoder_start_token_id
    out[:, 1:] = labels[:, :-1]
    out[out == -100] = pad_token_id
    return out
