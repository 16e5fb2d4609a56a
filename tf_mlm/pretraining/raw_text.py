"""Raw text for ``tf-mlm mask``: tokenization with a WordPiece vocabulary or a
SentencePiece model, and the packing of sentences into sequences.

The input is laid out as for BERT's ``create_pretraining_data.py``: one
sentence per line, documents separated by blank lines (several blank lines
are one separator; a line that tokenizes to nothing is skipped, as BERT's
script skips it).

Tokenizers (the ``tf_mlm[text]`` extra, imported only when raw text is read):

* :class:`WordPieceTokenizer`: BERT's ``vocab.txt`` through HF
  ``tokenizers`` (``BertNormalizer``, ``BertPreTokenizer``, ``WordPiece``
  with ``[UNK]``: the pipeline of ``tokenizers.BertWordPieceTokenizer``),
  lower-casing and stripping accents with ``lower_case`` as BERT's
  ``--do_lower_case`` does. Special-token literals in the text (``[MASK]``)
  are ordinary text, as in BERT's tokenizer. Words are the tokenizer's own
  (``word_ids()``: punctuation is a word of its own).
* :class:`SentencePieceTokenizer`: a ``.model`` file through
  ``sentencepiece``; its pieces are the vocabulary (ids, ``[MASK]`` /
  ``<mask>``). A piece starting with ``\u2581`` starts a word, and so does
  the first piece of a sentence.

Packing (RoBERTa's DOC-SENTENCES, deterministic): every sequence is
``[CLS]``, then whole consecutive sentences of ONE document while they fit
in ``max_seq_length - 2`` tokens, then ``[SEP]``. A sentence longer than that
budget is cut into pieces of at most the budget, between words where a word
fits (a word longer than the budget is cut itself); every piece but the last
is a sequence of its own, and the last is packed like a sentence with those
that follow. Sequences never cross a document boundary, and nothing is
random: no short sequences, no sentence pairs. ``[CLS]`` and ``[SEP]`` are
words of their own. SentencePiece models use their ``[CLS]`` / ``[SEP]``
pieces when they have both (ALBERT), else their BOS / EOS pieces (``<s>`` /
``</s>``, RoBERTa-style models).

Tokenization runs in batches of :data:`BATCH_LINES` lines, one library call
per batch. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from tf_mlm.pretraining import readers
from tf_mlm.pretraining.readers import InputError, ReadStats, Record

BATCH_LINES = 4096
EXTRA = 'pip install "tf_mlm[text]"'
WORD_START = "\u2581"
_INTEGER = re.compile(rb"[+-]?\d+")


def is_raw_text(head: bytes, text_only: bool = False) -> bool:
    """Whether ``head``'s first non-blank line is not whitespace-separated
    integers; with ``text_only``, also whether ``head`` is text (UTF-8 with
    no control bytes but whitespace: not a TFRecord file).

    >>> is_raw_text(b"\\n101 7592 102\\n"), is_raw_text(b"The cat sat.\\n")
    (False, True)
    >>> is_raw_text(b"\\x1a\\0\\0\\0", text_only=True)
    False
    """
    if text_only:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as e:
            if e.start < len(head) - 3:  # not a character cut by the end of head
                return False
            text = head[: e.start].decode("utf-8")
        if any(ord(c) < 32 and c not in "\t\n\r\f\v" for c in text):
            return False
    first = next((line for line in head.splitlines() if line.strip()), b"")
    return bool(first) and not all(_INTEGER.fullmatch(t) for t in first.split())


def auto_format(path: str, fmt: str, head: bytes) -> str:
    """``"raw"`` when an input detected as ``fmt`` from its name or its
    first bytes ``head`` holds raw text: stdin, a ``.txt`` file or (when
    ``head`` is text, not a TFRecord) a file of an unknown extension whose
    first non-blank line is not whitespace-separated integers; else ``fmt``.

    >>> auto_format("corpus.txt", "text", b"The cat sat."), auto_format("ids.txt", "text", b"1 2")
    ('raw', 'text')
    """
    if fmt == "jsonl":
        return fmt
    if path == "-" or readers.extension(path) == ".txt":
        return "raw" if is_raw_text(head) else fmt
    if readers.format_from_name(path) is None:
        return "raw" if is_raw_text(head, text_only=True) else fmt
    return fmt


def load_tokenizer(tokenizer, markers: bool = True) -> None:
    """Loads ``tokenizer`` (its library) before raw text is read;
    ``markers``: whether sequences start and end with ``[CLS]`` and
    ``[SEP]`` (the tokenizer must have them)."""
    if tokenizer is None:
        raise InputError(
            "raw text input needs --vocab (a WordPiece vocab.txt) or --sentencepiece-model"
        )
    tokenizer.load(markers)


def _import(name: str, what: str):
    """``import name``, or one line naming the extra that provides it."""
    try:
        return __import__(name)
    except ImportError:
        raise InputError(f"{what} needs the {name} library: {EXTRA}") from None


class WordPieceTokenizer:
    """BERT's WordPiece tokenization of a vocabulary (token ``i`` is id
    ``i``), built on first use.

    Args:
      tokens: the vocabulary, one token per id (must hold [UNK], [CLS], [SEP]).
      lower_case: lower-case and strip accents (BERT's ``--do_lower_case``).
    """

    kind = "wordpiece"

    def __init__(self, tokens: Sequence[str], lower_case: bool = True):
        index: Dict[str, int] = {}
        for i, tok in enumerate(tokens):
            index.setdefault(tok, i)
        self._index = index
        self.lower_case = lower_case
        self.cls_id, self.sep_id = index.get("[CLS]", -1), index.get("[SEP]", -1)
        self.special_ids: List[int] = []
        self._tokenizer = None

    def load(self, markers: bool = True) -> None:
        """Builds the ``tokenizers`` pipeline (once); the vocabulary needs
        ``[UNK]``, and ``[CLS]`` and ``[SEP]`` for ``markers``."""
        if self._tokenizer is not None:
            return
        for name in ("[UNK]", "[CLS]", "[SEP]") if markers else ("[UNK]",):
            if name not in self._index:
                raise InputError(f"raw text with --vocab needs a {name} token in the vocabulary")
        tokenizers = _import("tokenizers", "raw text")
        from tokenizers import models, normalizers, pre_tokenizers

        tok = tokenizers.Tokenizer(
            models.WordPiece(vocab=self._index, unk_token="[UNK]", max_input_chars_per_word=100)
        )
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=True,
            strip_accents=None,
            lowercase=self.lower_case,
        )
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        self._tokenizer = tok

    def describe(self) -> Dict:
        return {"kind": self.kind, "lower_case": self.lower_case}

    def encode(self, lines: List[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ids of ``lines`` in one call: (flat ids, row splits, a flag
        per token that is True where a word starts)."""
        self.load()
        encodings = self._tokenizer.encode_batch(lines, add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
        splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        total = int(splits[-1])
        ids = np.fromiter((i for e in encodings for i in e.ids), np.int64, total)
        words = np.fromiter(
            (-1 if w is None else w for e in encodings for w in e.word_ids), np.int64, total
        )
        starts = np.ones(total, bool)
        starts[1:] = words[1:] != words[:-1]
        return ids, splits, starts


class SentencePieceTokenizer:
    """A SentencePiece model: its pieces are the vocabulary; ``[CLS]`` /
    ``[SEP]`` pieces start and end sequences when the model has both, else
    its BOS / EOS pieces."""

    kind = "sentencepiece"

    def __init__(self, path: str):
        spm = _import("sentencepiece", "--sentencepiece-model")
        self.path = os.path.abspath(path)
        try:
            self._sp = spm.SentencePieceProcessor(model_file=path)
        except (OSError, RuntimeError) as e:
            raise InputError(f"cannot read SentencePiece model {path}: {e}") from None
        sp = self._sp
        self.pieces: List[str] = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
        self._starts = np.array([p.startswith(WORD_START) for p in self.pieces], bool)
        index = {p: i for i, p in reversed(list(enumerate(self.pieces)))}
        if "[CLS]" in index and "[SEP]" in index:
            self.cls_id, self.sep_id = index["[CLS]"], index["[SEP]"]
        elif sp.bos_id() >= 0 and sp.eos_id() >= 0:
            self.cls_id, self.sep_id = sp.bos_id(), sp.eos_id()
        else:
            self.cls_id = self.sep_id = -1
        # Control and unknown pieces, and the sequence markers: never masked.
        self.special_ids = sorted(
            {i for i in range(len(self.pieces)) if sp.is_control(i) or sp.is_unknown(i)}
            | ({self.cls_id, self.sep_id} - {-1})
        )

    def load(self, markers: bool = True) -> None:
        """Raw text with ``markers`` needs them; the model is loaded already."""
        if markers and self.cls_id < 0:
            raise InputError(
                f"the SentencePiece model {self.path} has neither [CLS] and [SEP] pieces "
                "nor BOS and EOS pieces to start and end sequences"
            )

    def describe(self) -> Dict:
        return {"kind": self.kind, "model": self.path}

    def encode(self, lines: List[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`WordPieceTokenizer.encode`."""
        pieces = self._sp.encode(lines, out_type=int)
        lengths = np.fromiter((len(p) for p in pieces), np.int64, len(pieces))
        splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = np.fromiter((i for p in pieces for i in p), np.int64, int(splits[-1]))
        return ids, splits, self._starts[ids]


def sentences(
    ids: np.ndarray, splits: np.ndarray, starts: np.ndarray
) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Per sentence of an :meth:`~WordPieceTokenizer.encode` result: its ids
    and the lengths of its words (a sentence's first token starts a word)."""
    starts = starts.copy()
    starts[splits[:-1][splits[:-1] < len(ids)]] = True
    positions = np.flatnonzero(starts)
    word_lengths = np.diff(np.append(positions, len(ids)))
    word_splits = np.searchsorted(positions, splits)
    return [
        (ids[splits[k] : splits[k + 1]], word_lengths[word_splits[k] : word_splits[k + 1]])
        for k in range(len(splits) - 1)
    ]


def split_long(
    ids: np.ndarray, words: np.ndarray, budget: int
) -> List[Tuple[np.ndarray, np.ndarray]]:
    """``ids`` (with word lengths ``words``) in pieces of at most ``budget``
    tokens, cut between words where a word fits, else inside the word.

    >>> [(i.tolist(), w.tolist()) for i, w in split_long(np.arange(7), np.array([2, 3, 2]), 4)]
    [([0, 1], [2]), ([2, 3, 4], [3]), ([5, 6], [2])]
    >>> [w.tolist() for _, w in split_long(np.arange(7), np.array([1, 6]), 3)]
    [[1], [3], [3]]
    """
    pieces, current, size, start = [], [], 0, 0
    for length in words.tolist():
        while size + length > budget:
            if current:
                pieces.append((start, size, current))
                start, current, size = start + size, [], 0
            else:
                pieces.append((start, budget, [budget]))
                start, length = start + budget, length - budget
        current.append(length)
        size += length
    if current:
        pieces.append((start, size, current))
    return [(ids[s : s + n], np.asarray(w, np.int64)) for s, n, w in pieces]


class Packer:
    """Packs the sentences of one document at a time into records of at
    most ``budget + 2`` tokens: ``[CLS]`` sentences ``[SEP]``; with
    ``cls_id`` and ``sep_id`` None, of ``budget`` tokens of sentences."""

    def __init__(self, budget: int, cls_id: Optional[int], sep_id: Optional[int], name: str):
        self.budget, self.name = budget, name
        self._cls = [] if cls_id is None else [np.array([cls_id], np.int64)]
        self._sep = [] if sep_id is None else [np.array([sep_id], np.int64)]
        self._ids: List[np.ndarray] = []
        self._words: List[np.ndarray] = []
        self._size = self._nbytes = 0
        self._first = self._last = 0

    def add(self, ids: np.ndarray, words: np.ndarray, lineno: int) -> Iterator[Record]:
        """Adds a sentence (line ``lineno``); yields the records it completes."""
        if len(ids) > self.budget:
            yield from self.flush()
            *full, (ids, words) = split_long(ids, words, self.budget)
            for piece_ids, piece_words in full:
                self._append(piece_ids, piece_words, lineno)
                yield from self.flush()
        elif self._size + len(ids) > self.budget:
            yield from self.flush()
        self._append(ids, words, lineno)

    def count_bytes(self, nbytes: int) -> None:
        """Bytes read (for progress), reported with the next record."""
        self._nbytes += nbytes

    def _append(self, ids: np.ndarray, words: np.ndarray, lineno: int) -> None:
        if not self._ids:
            self._first = lineno
        self._ids.append(ids)
        self._words.append(words)
        self._size += len(ids)
        self._last = lineno

    def flush(self) -> Iterator[Record]:
        """Ends the current sequence (at a document's end, or when full)."""
        if not self._ids:
            return
        ids = np.concatenate([*self._cls, *self._ids, *self._sep])
        one = [np.ones([1], np.int64)] if self._cls else []
        words = np.concatenate([*one, *self._words, *one])
        lines = str(self._first) if self._first == self._last else f"{self._first}-{self._last}"
        record = Record(ids, words, self._nbytes, f"{self.name}:{lines}")
        self._ids, self._words, self._size, self._nbytes = [], [], 0, 0
        yield record


def records(
    lines: Iterable[Tuple[int, bytes, int]],
    name: str,
    tokenizer,
    max_seq_length: Optional[int],
    stats: ReadStats,
    markers: bool = True,
) -> Iterator[Record]:
    """The packed records of one raw-text input.

    Args:
      lines: (line number, line, bytes read for it) of the input, in order.
      name: the input's name in messages and ``Record.where``.
      tokenizer: a :class:`WordPieceTokenizer` or :class:`SentencePieceTokenizer`.
      max_seq_length: the longest record, ``[CLS]`` and ``[SEP]`` included.
      stats: counts ``documents`` and ``sentences`` (tokenized lines).
      markers: sequences start with ``[CLS]`` and end with ``[SEP]``; else
        they are sentences only (T5's span corruption).
    """
    if markers and (max_seq_length is None or max_seq_length < 3):
        raise InputError(
            f"raw text needs --max-seq-length >= 3 ([CLS] and [SEP] take two), got {max_seq_length}"
        )
    if max_seq_length is None:
        raise InputError("raw text needs --max-seq-length")
    tokenizer.load(markers)
    if markers:
        packer = Packer(max_seq_length - 2, tokenizer.cls_id, tokenizer.sep_id, name)
    else:
        packer = Packer(max_seq_length, None, None, name)
    in_document = False
    for block, encoded in _ahead(_tokenized(lines, name, tokenizer)):
        for lineno, text, nbytes in block:
            packer.count_bytes(nbytes)
            if text is None:  # a blank line: the document ends
                yield from packer.flush()
                in_document = False
                continue
            ids, words = next(encoded)
            if len(ids) == 0:
                continue
            if not in_document:
                stats.documents += 1
                in_document = True
            stats.sentences += 1
            yield from packer.add(ids, words, lineno)
    yield from packer.flush()


def _tokenized(lines: Iterable[Tuple[int, bytes, int]], name: str, tokenizer) -> Iterator:
    """The blocks of :func:`_blocks`, each with its sentences tokenized in one call."""
    for block in _blocks(lines, name):
        texts = [text for _, text, _ in block if text is not None]
        yield block, iter(sentences(*tokenizer.encode(texts)) if texts else ())


_END = object()


def _ahead(items: Iterator, depth: int = 2) -> Iterator:
    """``items``, produced by a background thread up to ``depth`` items
    ahead: the input is read and tokenized while the records before are
    masked. An error of ``items`` is raised here, in its place; closing
    this generator stops the thread."""
    results: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as e:  # raised in the consumer
            put((_END, e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    threading.Thread(target=produce, name="tf-mlm-tokenize", daemon=True).start()
    try:
        while True:
            item, error = results.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()


def _blocks(
    lines: Iterable[Tuple[int, bytes, int]], name: str
) -> Iterator[List[Tuple[int, Optional[str], int]]]:
    """Lines in blocks of :data:`BATCH_LINES`, decoded (None for a blank line)."""
    block: List[Tuple[int, Optional[str], int]] = []
    for lineno, line, nbytes in lines:
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            raise InputError(f"{name}:{lineno}: not UTF-8 text ({e.reason})") from None
        block.append((lineno, text or None, nbytes))
        if len(block) == BATCH_LINES:
            yield block
            block = []
    if block:
        yield block
