"""Vocabulary files (one token per line, BERT's ``vocab.txt``): sizes, token
names for ids given on the command line, rendering ids as tokens."""

from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional, Sequence

from tf_mlm.pretraining.readers import InputError

# Special tokens of BERT-style vocabularies that are never masked by default.
DEFAULT_SPECIAL_TOKENS = (
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "<pad>",
    "<unk>",
    "<s>",
    "</s>",
    "<mask>",
)


class Vocabulary:
    """An id <-> token table.

    >>> v = Vocabulary(["[PAD]", "[CLS]", "[SEP]", "[MASK]", "the", "##s"])
    >>> len(v), v.id("[MASK]"), v.token(4)
    (6, 3, 'the')
    >>> v.resolve_ids("[CLS], [SEP], 0")
    [1, 2, 0]
    >>> v.special_ids()
    [0, 1, 2, 3]
    """

    def __init__(self, tokens: Sequence[str], path: Optional[str] = None):
        self.tokens: List[str] = list(tokens)
        self.path = path
        self._index: Dict[str, int] = {}
        for i, tok in enumerate(self.tokens):
            self._index.setdefault(tok, i)

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        """Reads a vocabulary file: one token per line, the line number
        (from 0) is the id; a trailing tab-separated column (a score or
        count, as in SentencePiece ``.vocab`` files) is ignored. A
        SentencePiece ``.model`` file gives its pieces."""
        if path.endswith(".model"):
            from tf_mlm.pretraining.raw_text import SentencePieceTokenizer

            model = SentencePieceTokenizer(path)
            return cls(model.pieces, model.path)
        try:
            with open(path, encoding="utf-8") as f:
                tokens = [line.rstrip("\r\n").split("\t")[0] for line in f]
        except OSError as e:
            raise InputError(f"cannot read vocabulary file {path}: {e.strerror or e}") from e
        except UnicodeDecodeError as e:
            raise InputError(f"vocabulary file {path} is not UTF-8 text: {e}") from e
        while tokens and tokens[-1] == "":
            tokens.pop()
        if not tokens:
            raise InputError(f"vocabulary file {path} is empty")
        return cls(tokens, os.path.abspath(path))

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        """The id of ``token``; ``InputError`` when it is absent."""
        if token not in self._index:
            raise InputError(
                f"token {token!r} is not in the vocabulary" + (f" {self.path}" if self.path else "")
            )
        return self._index[token]

    def token(self, i: int) -> str:
        return self.tokens[i] if 0 <= i < len(self.tokens) else f"<{i}?>"

    def special_ids(self, candidates: Iterable[str] = DEFAULT_SPECIAL_TOKENS) -> List[int]:
        """Ids of the special tokens present in the vocabulary, ascending."""
        return sorted({self._index[t] for t in candidates if t in self._index})

    def continuation_table(self, kind: str = "auto"):
        """Bool per id, True for pieces that continue a word: ``kind``
        ``"wordpiece"`` (``##`` prefix), ``"sentencepiece"`` (no ``\u2581``
        prefix) or ``"auto"`` (wordpiece when any token starts with ``##``,
        else sentencepiece when any starts with ``\u2581``)."""
        import tf_mlm

        if kind == "auto":
            if any(t.startswith("##") for t in self.tokens):
                kind = "wordpiece"
            elif any(t.startswith("\u2581") for t in self.tokens):
                kind = "sentencepiece"
            else:
                raise InputError(
                    "cannot tell how the vocabulary marks words (no ## or \u2581 "
                    "pieces); give --word-pieces"
                )
        if kind == "wordpiece":
            return tf_mlm.wordpiece_continuation_table(self.tokens)
        if kind == "sentencepiece":
            return tf_mlm.sentencepiece_continuation_table(
                self.tokens, special=[t for t in self.tokens if t in DEFAULT_SPECIAL_TOKENS]
            )
        raise ValueError(f"unknown word-piece kind {kind!r}")

    def resolve_ids(self, spec: str) -> List[int]:
        """Comma-separated ids or tokens (``"[CLS],[SEP],0"``) as ids."""
        return parse_id_list(spec, self)


def parse_id_list(spec: str, vocab: Optional[Vocabulary] = None) -> List[int]:
    """Parses ``"101,102"`` (or token names when a vocabulary is given).

    >>> parse_id_list("0, 101,102")
    [0, 101, 102]
    >>> parse_id_list("")
    []
    """
    out = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(int(item))
        except ValueError:
            if vocab is None:
                raise InputError(
                    f"{item!r} is not an integer id (token names need --vocab)"
                ) from None
            out.append(vocab.id(item))
    return out


def resolve_id(spec: str, vocab: Optional[Vocabulary], what: str) -> int:
    """One id given as an integer or (with a vocabulary) a token name."""
    ids = parse_id_list(spec, vocab)
    if len(ids) != 1:
        raise InputError(f"{what} must be one id or token, got {spec!r}")
    return ids[0]


_FLOAT32_MAX = 3.4028234663852886e38


def load_frequencies(path: str):
    """Replacement weights: one non-negative number per line (line k: id k)."""
    import numpy as np

    values = []
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                text = line.split("\t")[-1].strip()
                if not text:
                    continue
                try:
                    value = float(text)
                except ValueError:
                    raise InputError(f"{path}:{lineno}: {text!r} is not a number") from None
                if value < 0 or value != value:
                    raise InputError(f"{path}:{lineno}: weight {text} is negative or NaN")
                if value > _FLOAT32_MAX:
                    raise InputError(
                        f"{path}:{lineno}: weight {text} is "
                        + (
                            "not finite"
                            if value == float("inf")
                            else "beyond float32's range (3.4e38)"
                        )
                        + "; weights are relative: scale them down"
                    )
                values.append(value)
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from e
    return np.asarray(values, np.float64)
