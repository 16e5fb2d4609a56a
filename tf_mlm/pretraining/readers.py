"""Readers of tokenized sequences for ``tf-mlm mask``.

Input formats (one sequence of token ids per record):

* ``jsonl``: JSON Lines; each line a list of ids ``[101, 7592, 102]``, a
  list of words, each a list of ids ``[[101], [7592, 2015], [102]]`` (kept
  as words, for whole-word masking), or an object holding either under the
  feature name (default ``"input_ids"``).
* ``text``: whitespace-separated ids, one sequence per line.
* ``tfrecord``: ``tf.train.Example`` records with an int64 list feature
  (default ``input_ids``).
* ``raw``: text with a ``text_tokenizer`` (see :mod:`~tf_mlm.pretraining.raw_text`).

``-`` reads stdin (``jsonl``, ``text`` or ``raw``); ``.gz`` files are
decompressed; the format comes from the extension (also before a TensorFlow
shard suffix ``-00000-of-00002``), else from the first bytes; blank lines are
skipped.
Problems raise :class:`InputError` naming the file and line (or record)
number.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import io
import json
import os
import re
import sys
import zlib
from typing import BinaryIO, Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

FORMATS = ("jsonl", "text", "tfrecord", "raw")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "text",
    ".ids": "text",
    ".tsv": "text",
    ".tfrecord": "tfrecord",
    ".tfrecords": "tfrecord",
    ".tfrec": "tfrecord",
}
LONG_SEQUENCE_POLICIES = ("truncate", "skip", "error")
# TensorFlow's shard naming: train.tfrecord-00000-of-00002
_TF_SHARD_SUFFIX = re.compile(r"-\d+-of-\d+$")


class InputError(Exception):
    """Bad input: the message names the file and line or record, and is
    meant to be shown to the user as is."""


@dataclasses.dataclass
class Record:
    """One sequence: ``ids`` (int64), ``word_lengths`` (int64 lengths of the
    words, summing to ``len(ids)``, or None when the input has no words),
    ``nbytes`` read for it (for progress) and ``where`` (``file:line``)."""

    ids: np.ndarray
    word_lengths: Optional[np.ndarray]
    nbytes: int
    where: str


@dataclasses.dataclass
class ReadStats:
    """What a reader saw; ``records`` is what it yielded."""

    records: int = 0
    tokens: int = 0
    skipped_empty: int = 0
    truncated: int = 0
    skipped_long: int = 0
    documents: int = 0  # of raw text
    sentences: int = 0


def expand_inputs(patterns: Sequence[str]) -> List[str]:
    """Expands globs and directories (their non-hidden files, sorted);
    ``-`` stays as stdin. Missing files raise :class:`InputError`.

    >>> expand_inputs(["-"])
    ['-']
    """
    out: List[str] = []
    for pattern in patterns:
        if pattern == "-":
            out.append(pattern)
        elif os.path.isdir(pattern):
            files = sorted(
                os.path.join(pattern, n)
                for n in os.listdir(pattern)
                if not n.startswith(".") and os.path.isfile(os.path.join(pattern, n))
            )
            if not files:
                raise InputError(f"input directory {pattern} has no files")
            out.extend(files)
        elif glob.has_magic(pattern):
            files = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
            if not files:
                raise InputError(f"no input file matches {pattern}")
            out.extend(files)
        else:
            if not os.path.exists(pattern):
                raise InputError(f"cannot read {pattern}: no such file")
            if not os.access(pattern, os.R_OK):
                raise InputError(f"cannot read {pattern}: permission denied")
            out.append(pattern)
    if out.count("-") > 1:
        raise InputError("stdin ('-') can be given only once")
    return out


def format_from_name(path: str) -> Optional[str]:
    """The format named by ``path``'s extension, ignoring ``.gz`` and a
    TensorFlow shard suffix (``-00000-of-00002``); None when unknown.

    >>> format_from_name("train.tfrecord-00000-of-00002"), format_from_name("x.jsonl.gz")
    ('tfrecord', 'jsonl')
    >>> format_from_name("corpus.dat") is None
    True
    """
    return _EXTENSIONS.get(extension(path))


def extension(path: str) -> str:
    """``path``'s extension, lower-case, without ``.gz`` and a shard suffix."""
    name = path[:-3] if path.endswith(".gz") else path
    return os.path.splitext(_TF_SHARD_SUFFIX.sub("", name))[1].lower()


def detect_format(path: str, head: bytes = b"") -> str:
    """The format of ``path`` from its extension (see
    :func:`format_from_name`), else from its first bytes.

    >>> detect_format("train.jsonl.gz"), detect_format("x.tfrecord"), detect_format("-", b"1 2")
    ('jsonl', 'tfrecord', 'text')
    """
    fmt = format_from_name(path) if path != "-" else None
    if fmt is not None:
        return fmt
    stripped = head.lstrip()
    if stripped[:1] in (b"[", b"{"):
        return "jsonl"
    if not stripped or all(c in b"0123456789-+ \t\r\n" for c in stripped[:256]):
        return "text"
    return "tfrecord"


def _sniff(path: str, opener=None) -> bytes:
    try:
        with _open(path, opener) as raw:
            f = gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw
            return f.read(512)
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from e


class SequenceReader:
    """Iterates over the sequences of several inputs, in order, as
    :class:`Record` objects, validating them.

    Args:
      inputs: file paths (already expanded) or ``-`` for stdin.
      input_format: ``"auto"`` or one of :data:`FORMATS`.
      feature: the JSON key / ``tf.train.Example`` feature holding the ids.
      vocab_size: ids must lie in ``[0, vocab_size)``.
      max_seq_length: longer sequences are truncated, skipped or rejected
        according to ``long_sequences``.
      stdin: the binary stream standing for ``-`` (default: sys.stdin's).
      text_tokenizer: tokenizes ``raw`` inputs (a ``raw_text`` tokenizer).
      sequence_markers: raw text is packed into ``[CLS] ... [SEP]``
        sequences (BERT's); else into sentences only (T5's).
      opener: opens a path for reading bytes (default: the local file
        system; :mod:`tf_mlm.beam` passes Beam's file systems). With an
        opener, TFRecords are read without TensorFlow
        (:mod:`~tf_mlm.pretraining.tfrecords`).

    >>> r = SequenceReader(["-"], vocab_size=10, stdin=io.BytesIO(b"1 2 3\\n\\n4 5\\n"))
    >>> [rec.ids.tolist() for rec in r]
    [[1, 2, 3], [4, 5]]
    >>> r.stats.skipped_empty, r.stats.records
    (1, 2)
    """

    def __init__(
        self,
        inputs: Sequence[str],
        input_format: str = "auto",
        feature: str = "input_ids",
        vocab_size: Optional[int] = None,
        max_seq_length: Optional[int] = None,
        long_sequences: str = "truncate",
        stdin: Optional[BinaryIO] = None,
        text_tokenizer=None,
        sequence_markers: bool = True,
        opener: Optional[Callable[[str], BinaryIO]] = None,
    ):
        if input_format != "auto" and input_format not in FORMATS:
            raise ValueError(
                f"input_format must be 'auto' or one of {FORMATS}, got {input_format!r}"
            )
        if long_sequences not in LONG_SEQUENCE_POLICIES:
            raise ValueError(f"long_sequences must be one of {LONG_SEQUENCE_POLICIES}")
        self.inputs = list(inputs)
        self.feature = feature
        self.vocab_size = vocab_size
        self.max_seq_length = max_seq_length
        self.long_sequences = long_sequences
        self.text_tokenizer = text_tokenizer
        self.sequence_markers = sequence_markers
        self._stdin = stdin
        self.opener = opener
        self._stdin_head = b""
        self.formats = [self._format(path, input_format) for path in self.inputs]
        if "raw" in self.formats:
            from tf_mlm.pretraining.raw_text import load_tokenizer

            load_tokenizer(text_tokenizer, sequence_markers)
        self.stats = ReadStats()

    def _format(self, path: str, input_format: str) -> str:
        """The format of input ``path`` (see the module's docstring)."""
        head = b""
        if path == "-":
            stream = self._stdin_stream()
            self._stdin_head = head = stream.peek(512)[:512] if hasattr(stream, "peek") else b""
            fmt = input_format if input_format != "auto" else detect_format("-", head)
        elif input_format != "auto":
            return input_format
        else:
            fmt = format_from_name(path) or detect_format(path, head := _sniff(path, self.opener))
        if self.text_tokenizer is not None and input_format == "auto":
            from tf_mlm.pretraining import raw_text

            fmt = raw_text.auto_format(path, fmt, head or _sniff(path, self.opener))
        if path == "-" and fmt == "tfrecord":
            raise InputError("TFRecord input cannot be read from stdin; give a file")
        return fmt

    def _stdin_stream(self) -> BinaryIO:
        if self._stdin is None:
            self._stdin = sys.stdin.buffer
        if not hasattr(self._stdin, "peek"):
            self._stdin = io.BufferedReader(self._stdin)  # type: ignore[arg-type]
        return self._stdin

    @property
    def total_bytes(self) -> Optional[int]:
        """Bytes the inputs hold (for progress), None when unknown (stdin,
        compressed TFRecords)."""
        total = 0
        for path, fmt in zip(self.inputs, self.formats):
            if path == "-" or (fmt == "tfrecord" and path.endswith(".gz")):
                return None
            total += os.path.getsize(path)
        return total

    def __iter__(self) -> Iterator[Record]:
        self.stats = ReadStats()
        for path, fmt in zip(self.inputs, self.formats):
            if fmt == "raw":
                source = self._raw(path)
            elif fmt == "tfrecord":
                source = self._tfrecords(path)
            else:
                source = self._lines(path, fmt)
            for rec in source:
                rec = self._check(rec)
                if rec is not None:
                    self.stats.records += 1
                    self.stats.tokens += len(rec.ids)
                    yield rec

    # -- validation ---------------------------------------------------------

    def _check(self, rec: Record) -> Optional[Record]:
        if rec.ids.size == 0:
            self.stats.skipped_empty += 1
            return None
        if self.vocab_size is not None:
            bad = np.flatnonzero((rec.ids < 0) | (rec.ids >= self.vocab_size))
            if bad.size:
                raise InputError(
                    f"{rec.where}: id {int(rec.ids[bad[0]])} (token {int(bad[0])}) "
                    f"is outside the vocabulary [0, {self.vocab_size})"
                )
        limit = self.max_seq_length
        if limit is not None and rec.ids.size > limit:
            if self.long_sequences == "error":
                raise InputError(
                    f"{rec.where}: sequence of {rec.ids.size} tokens is longer than "
                    f"--max-seq-length {limit} (use --long-sequences "
                    f"truncate or skip)"
                )
            if self.long_sequences == "skip":
                self.stats.skipped_long += 1
                return None
            self.stats.truncated += 1
            rec.ids = rec.ids[:limit]
            if rec.word_lengths is not None:
                ends = np.cumsum(rec.word_lengths)
                keep = int(np.searchsorted(ends, limit, side="left")) + 1
                lengths = rec.word_lengths[:keep].copy()
                lengths[-1] -= int(ends[keep - 1]) - limit
                rec.word_lengths = lengths
        return rec

    # -- line formats -------------------------------------------------------

    def _lines(self, path: str, fmt: str) -> Iterator[Record]:
        name = "<stdin>" if path == "-" else path
        parse = self._parse_json if fmt == "jsonl" else _parse_text
        for lineno, line, nbytes in self._read_lines(path):
            where = f"{name}:{lineno}"
            if not line.strip():
                yield Record(np.zeros([0], np.int64), None, nbytes, where)
                continue
            ids, words = parse(line, where)
            yield Record(ids, words, nbytes, where)

    def _raw(self, path: str) -> Iterator[Record]:
        from tf_mlm.pretraining.raw_text import records

        name = "<stdin>" if path == "-" else path
        yield from records(
            self._read_lines(path),
            name,
            self.text_tokenizer,
            self.max_seq_length,
            self.stats,
            markers=self.sequence_markers,
        )

    def _read_lines(self, path: str) -> Iterator[Tuple[int, bytes, int]]:
        """(line number, line, bytes read for it) of a line input."""
        name = "<stdin>" if path == "-" else path
        raw = None
        try:
            if path == "-":
                stream: BinaryIO = self._stdin_stream()
            else:
                raw = _open(path, self.opener)
                stream = gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw
            lineno, last_pos = 0, 0
            while True:
                try:
                    line = stream.readline()
                except (OSError, EOFError, zlib.error) as e:
                    raise InputError(f"{name}:{lineno + 1}: cannot read: {e}") from e
                if not line:
                    break
                lineno += 1
                if raw is not None and stream is not raw:
                    pos = raw.tell()
                    nbytes, last_pos = pos - last_pos, pos
                else:
                    nbytes = len(line)
                yield lineno, line, nbytes
        except OSError as e:
            raise InputError(f"cannot read {name}: {e.strerror or e}") from e
        finally:
            if raw is not None:
                raw.close()

    def _parse_json(self, line: bytes, where: str):
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise InputError(f"{where}: malformed JSON: {e}") from None
        if isinstance(obj, dict):
            if self.feature not in obj:
                raise InputError(
                    f"{where}: the JSON object has no key {self.feature!r} "
                    f"(keys: {', '.join(sorted(obj)) or 'none'}; see --input-feature)"
                )
            obj = obj[self.feature]
        if not isinstance(obj, list):
            raise InputError(f"{where}: expected a list of ids, got {type(obj).__name__}")
        if obj and isinstance(obj[0], list):
            if not all(isinstance(w, list) for w in obj):
                raise InputError(f"{where}: mixes words (lists) and single ids")
            lengths = np.array([len(w) for w in obj], np.int64)
            if (lengths == 0).any():
                raise InputError(f"{where}: word {int(np.argmin(lengths))} is empty")
            flat = [i for w in obj for i in w]
            return _int_array(flat, where), lengths
        return _int_array(obj, where), None

    # -- TFRecords ------------------------------------------------------------

    def _tfrecords(self, path: str) -> Iterator[Record]:
        if self.opener is not None:
            yield from self._examples(path, self._frames(path))
            return
        import tensorflow as tf

        ds = tf.data.TFRecordDataset(path, compression_type="GZIP" if path.endswith(".gz") else "")
        index = 0
        it = iter(ds)
        while True:
            try:
                serialized = next(it).numpy()
            except StopIteration:
                return
            except tf.errors.OpError as e:
                raise InputError(
                    f"{path}: record {index + 1}: not a readable TFRecord file "
                    f"({e.message.splitlines()[0]})"
                ) from None
            index += 1
            yield from self._examples(path, [serialized], index)

    def _frames(self, path: str) -> Iterator[bytes]:
        """The serialized records of a TFRecord file, read through the opener."""
        from tf_mlm.pretraining import tfrecords

        index = 0
        try:
            with _open(path, self.opener) as raw:
                stream = gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw
                for index, serialized in enumerate(tfrecords.frames(stream), 1):
                    yield serialized
        except tfrecords.RecordError as e:
            raise InputError(
                f"{path}: record {index + 1}: not a readable TFRecord file ({e})"
            ) from None
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise InputError(
                f"{path}: record {index + 1}: not a readable TFRecord file "
                f"(corrupted or truncated compressed data: {e})"
            ) from None

    def _examples(self, path: str, serialized_records, first: int = 1) -> Iterator[Record]:
        """The records of serialized ``tf.train.Example`` s, numbered from ``first``."""
        from tf_mlm.pretraining import tfrecords

        for index, serialized in enumerate(serialized_records, first):
            where = f"{path}: record {index}"
            try:
                example = tfrecords.example_class().FromString(serialized)
            except Exception:
                raise InputError(f"{where}: not a tf.train.Example") from None
            features = example.features.feature
            if self.feature not in features:
                raise InputError(
                    f"{where}: no feature {self.feature!r} (features: "
                    f"{', '.join(sorted(features)) or 'none'}; see --input-feature)"
                )
            feat = features[self.feature]
            if feat.WhichOneof("kind") != "int64_list":
                raise InputError(
                    f"{where}: feature {self.feature!r} is a "
                    f"{feat.WhichOneof('kind')}, not an int64_list"
                )
            ids = np.asarray(feat.int64_list.value, np.int64)
            if "input_mask" in features and features["input_mask"].int64_list.value:
                # Our own (padded) output fed back in: drop the padding.
                ids = ids[: int(np.sum(features["input_mask"].int64_list.value))]
            yield Record(ids, None, len(serialized) + 16, where)


def _open(path: str, opener=None) -> BinaryIO:
    return open(path, "rb") if opener is None else opener(path)


def _int_array(values: list, where: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except (ValueError, OverflowError):
        arr = np.asarray(values, dtype=object)
    if arr.size == 0:
        return np.zeros([0], np.int64)
    if arr.ndim == 1 and arr.dtype.kind in "iu":
        if arr.dtype == np.uint64 and (arr > np.iinfo(np.int64).max).any():
            raise InputError(f"{where}: an id does not fit in int64")
        return arr.astype(np.int64, copy=False)
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool):
            raise InputError(f"{where}: {json.dumps(v)} is not an integer id")
    raise InputError(f"{where}: an id does not fit in int64")


def _parse_text(line: bytes, where: str):
    parts = line.split()
    try:
        return np.asarray([int(p) for p in parts], np.int64), None
    except ValueError:
        for p in parts:
            try:
                int(p)
            except ValueError:
                raise InputError(
                    f"{where}: {p.decode(errors='replace')!r} is not an integer id"
                ) from None
        raise
    except OverflowError:
        raise InputError(f"{where}: an id does not fit in int64") from None
