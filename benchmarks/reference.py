"""The reference batch of docs/performance.md ("The run") and its variants.

Reference batch: 256 rows, lengths uniform in [128, 512] drawn from a fixed
seed (84,005 tokens with seed 0), int64 ids, vocab 30522, selection rate
0.15, cap 76 per row, unselectable ids [0, 101, 102], mask id 103.

Every row starts with [CLS] (101) and ends with [SEP] (102), like a BERT
input; the ids in between are uniform in [1000, vocab) so that only those
two tokens per row are unselectable. The whole-word variant groups the same
tokens into words of 1-3 wordpieces (mean 1.3), [CLS] and [SEP] being words
of their own.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Dict, Optional, Tuple

import numpy as np

CLS, SEP = 101, 102
FIRST_PLAIN_ID = 1000
# wordpieces per word: 1, 2 or 3 with these probabilities (mean 1.3)
WORD_LENGTHS = (1, 2, 3)
WORD_LENGTH_P = (0.75, 0.2, 0.05)


@dataclasses.dataclass(frozen=True)
class Reference:
    rows: int = 256
    min_len: int = 128
    max_len: int = 512
    seed: int = 0
    vocab_size: int = 30522
    selection_rate: float = 0.15
    max_selections_per_row: int = 76
    unselectable_ids: Tuple[int, ...] = (0, CLS, SEP)
    mask_token: int = 103

    def scaled(self, **changes) -> "Reference":
        return dataclasses.replace(self, **changes)


REFERENCE = Reference()


def row_lengths(ref: Reference = REFERENCE) -> np.ndarray:
    """Row lengths uniform in [min_len, max_len] (inclusive), fixed seed."""
    rng = np.random.default_rng(ref.seed)
    return rng.integers(ref.min_len, ref.max_len + 1, ref.rows).astype(np.int64)


def flat_ids(lengths: np.ndarray, ref: Reference = REFERENCE) -> np.ndarray:
    """Flat int64 ids for rows of `lengths`: [CLS] body [SEP] per row."""
    rng = np.random.default_rng(ref.seed + 1)
    total = int(lengths.sum())
    ids = rng.integers(FIRST_PLAIN_ID, ref.vocab_size, total, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    ids[starts] = CLS
    ids[starts + lengths - 1] = SEP
    return ids


def token_arrays(ref: Reference = REFERENCE) -> Tuple[np.ndarray, np.ndarray]:
    """(flat ids, row splits) of the token-level batch, NumPy int64."""
    lengths = row_lengths(ref)
    splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return flat_ids(lengths, ref), splits


def word_lengths(lengths: np.ndarray, ref: Reference = REFERENCE) -> list:
    """Per row, the wordpiece counts of its words (summing to the row length)."""
    rng = np.random.default_rng(ref.seed + 2)
    out = []
    for n in lengths.tolist():
        body = n - 2
        draws = rng.choice(WORD_LENGTHS, size=max(body, 1), p=WORD_LENGTH_P)
        ends = np.cumsum(draws)
        k = int(np.searchsorted(ends, body))  # first word reaching the body length
        words = draws[: k + 1].copy()
        words[-1] -= ends[k] - body
        out.append(np.concatenate([[1], words[words > 0], [1]]).astype(np.int64))
    return out


def token_batch(ref: Reference = REFERENCE):
    """`[batch, (tokens)]` int64 RaggedTensor."""
    import tensorflow as tf

    ids, splits = token_arrays(ref)
    return tf.RaggedTensor.from_row_splits(tf.constant(ids), tf.constant(splits), validate=False)


def word_batch(ref: Reference = REFERENCE):
    """`[batch, (words), (wordpieces)]` int64 RaggedTensor over the same ids
    as :func:`token_batch`."""
    import tensorflow as tf

    lengths = row_lengths(ref)
    ids = flat_ids(lengths, ref)
    words = word_lengths(lengths, ref)
    words_per_row = np.array([len(w) for w in words], np.int64)
    return tf.RaggedTensor.from_nested_row_lengths(
        tf.constant(ids),
        [tf.constant(words_per_row), tf.constant(np.concatenate(words))],
        validate=False,
    )


def fixed_length_batch(rows: int, length: int, ref: Reference = REFERENCE):
    """`rows` rows of exactly `length` tokens (sequence-length sweep)."""
    return token_batch(ref.scaled(rows=rows, min_len=length, max_len=length))


def maskers(module, ref: Reference = REFERENCE):
    """(item_selector, mask_values_chooser) built through `module`'s own API
    (tf_mlm and tensorflow_text share the names and arguments)."""
    selector = module.RandomItemSelector(
        max_selections_per_batch=ref.max_selections_per_row,
        selection_rate=ref.selection_rate,
        unselectable_ids=list(ref.unselectable_ids),
    )
    chooser = module.MaskValuesChooser(ref.vocab_size, ref.mask_token)
    return selector, chooser


def masking_systems() -> Dict[str, Optional[object]]:
    """{'tf_mlm': module, 'tensorflow_text': module or None when missing}."""
    systems = {}
    for name in ("tf_mlm", "tensorflow_text"):
        try:
            systems[name] = importlib.import_module(name)
        except ImportError:
            systems[name] = None
    return systems
