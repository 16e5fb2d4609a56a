"""Per-vocabulary-id tables for whole-word masking, without TensorFlow.

``table[id]`` is True for the ids that continue the previous word; both
[tf_mlm.group_words][tf_mlm.group_words] (TensorFlow) and
[tf_mlm.numpy.group_words][tf_mlm.numpy.group_words] group wordpieces into
words from such a table.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

__all__ = ["sentencepiece_continuation_table", "wordpiece_continuation_table"]


def wordpiece_continuation_table(vocab: Iterable[str], prefix: str = "##") -> np.ndarray:
    """``table[id]`` is True for WordPiece ids that continue a word (``##ing``).

    >>> wordpiece_continuation_table(["[CLS]", "play", "##ing", "##s"]).tolist()
    [False, False, True, True]
    """
    return np.array([tok.startswith(prefix) for tok in vocab], dtype=bool)


def sentencepiece_continuation_table(
    vocab: Iterable[str], word_start: str = "\u2581", special: Iterable[str] = ()
) -> np.ndarray:
    """``table[id]`` is True for SentencePiece ids that continue a word: those
    without the word-start marker (``▁``), other than the given special
    tokens and ``<...>`` control tokens, which stand alone.

    >>> sentencepiece_continuation_table(["<s>", "\u2581play", "ing", "\u2581a"]).tolist()
    [False, False, True, False]
    """
    special = set(special)
    return np.array(
        [
            not (
                tok.startswith(word_start)
                or tok in special
                or (tok.startswith("<") and tok.endswith(">"))
            )
            for tok in vocab
        ],
        dtype=bool,
    )
