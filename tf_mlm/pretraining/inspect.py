"""Reading ``tf-mlm mask`` output back: records, a training ``tf.data``
pipeline, and the summary statistics of ``tf-mlm inspect``."""

from __future__ import annotations

import collections
import glob
import gzip
import hashlib
import json
import os
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from tf_mlm.pretraining import tfrecords
from tf_mlm.pretraining.readers import InputError
from tf_mlm.pretraining.records import METADATA, feature_spec, is_shard_name

_ANSI = {"mask": "\033[1;33m", "random": "\033[1;31m", "keep": "\033[1;32m", "end": "\033[0m"}


class DatasetError(InputError):
    """The output is not a complete, intact tf-mlm dataset: metadata.json
    missing or malformed, a shard missing, extra, or not what the metadata
    records (size, SHA-256, record count)."""


def resolve_output(path: str, require_metadata: bool = True) -> Tuple[List[str], Dict]:
    """The shard files and metadata of an output: ``path`` is an output
    directory, one shard, or a glob of shards.

    A directory must hold ``metadata.json`` (written last, it marks a
    complete dataset; :class:`DatasetError` otherwise) unless
    ``require_metadata`` is False: then its shard files are listed. Next to
    a file or glob, the metadata is ``{}`` when there is none."""
    if os.path.isdir(path):
        directory = path
        meta = _load_metadata(directory)
        if not meta and require_metadata:
            raise DatasetError(f"{path} has no {METADATA}: not a complete tf-mlm dataset")
        if meta.get("shards"):
            files = [os.path.join(directory, n) for n in meta["shards"]]
        else:
            files = sorted(
                os.path.join(directory, n) for n in os.listdir(directory) if is_shard_name(n)
            )
        if not files:
            raise InputError(f"{path} holds no tf-mlm shards")
    else:
        files = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
        if not files or not all(os.path.isfile(f) for f in files):
            raise InputError(f"cannot read {path}: no such file")
        meta = _load_metadata(os.path.dirname(files[0]) or ".")
    for f in files:
        if not os.access(f, os.R_OK):
            raise InputError(f"cannot read {f}: permission denied")
    return files, meta


def _load_metadata(directory: str) -> Dict:
    path = os.path.join(directory, METADATA)
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from e
    except ValueError as e:
        raise DatasetError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("shards", []), list):
        raise DatasetError(
            f"{path} is not tf-mlm metadata (expected a JSON object with a list of shards)"
        )
    return meta


def _file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        if hasattr(hashlib, "file_digest"):
            return hashlib.file_digest(f, "sha256").hexdigest()
        h = hashlib.sha256()
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
        return h.hexdigest()


def verify_output(path: str) -> Dict:
    """Checks a dataset against its ``metadata.json``: every shard it lists
    exists with the recorded size and SHA-256, no other shard file is in
    the directory, and the per-shard record counts add up to ``records``.
    ``path``: the output directory, or shards of it (only those are
    checked). Returns the metadata; raises :class:`DatasetError` naming
    the first shard that fails."""
    if os.path.isdir(path):
        directory, only = path, None
    else:
        files, _ = resolve_output(path)
        directory = os.path.dirname(files[0]) or "."
        only = {os.path.basename(f) for f in files}
    meta = _load_metadata(directory)
    if not meta:
        raise DatasetError(f"{directory} has no {METADATA}: not a complete tf-mlm dataset")
    info = meta.get("shard_info")
    if not isinstance(info, list) or not all(isinstance(e, dict) for e in info):
        raise DatasetError(
            f"{os.path.join(directory, METADATA)} records no shard checksums "
            "(written by tf_mlm before 0.2?): use --no-verify"
        )
    names = [e.get("name") for e in info]
    if names != meta.get("shards"):
        raise DatasetError(f"{os.path.join(directory, METADATA)}: shards and shard_info differ")
    if only is not None and not only <= set(names):
        extra = sorted(only - set(names))[0]
        raise DatasetError(
            f"{os.path.join(directory, extra)} is not a shard of the dataset in {directory}"
        )
    if only is None:
        extra = sorted(n for n in os.listdir(directory) if is_shard_name(n) and n not in names)
        if extra:
            raise DatasetError(
                f"{os.path.join(directory, extra[0])}: a shard file the metadata "
                "does not list (left from another run?)"
            )
        total = sum(int(e.get("records", -1)) for e in info)
        if total != meta.get("records"):
            raise DatasetError(
                f"{os.path.join(directory, METADATA)}: shard records add up to "
                f"{total}, not {meta.get('records')}"
            )
    for entry in info:
        if only is not None and entry["name"] not in only:
            continue
        shard = os.path.join(directory, entry["name"])
        try:
            size = os.path.getsize(shard)
        except FileNotFoundError:
            raise DatasetError(f"{shard} is missing") from None
        if size != entry.get("bytes"):
            raise DatasetError(f"{shard}: {size} bytes, the metadata records {entry.get('bytes')}")
        try:
            digest = _file_sha256(shard)
        except OSError as e:
            raise InputError(f"cannot read {shard}: {e.strerror or e}") from e
        if digest != entry.get("sha256"):
            raise DatasetError(
                f"{shard}: SHA-256 differs from the metadata's (corrupt or replaced)"
            )
    return meta


def _is_jsonl(path: str) -> bool:
    name = path[:-3] if path.endswith(".gz") else path
    return name.endswith(".jsonl") or name.endswith(".json")


def read_tfrecords(
    path: str, max_seq_length: Optional[int] = None, max_predictions_per_seq: Optional[int] = None
):
    """A ``tf.data.Dataset`` of parsed TFRecord output (dicts of the five
    fixed-length features), e.g. to feed a training loop.

    ``path`` is an output directory (lengths from its ``metadata.json``),
    a shard or a glob; lengths given here override the metadata.
    """
    import tensorflow as tf

    files, meta = resolve_output(path)
    seq = max_seq_length or meta.get("max_seq_length")
    pred = max_predictions_per_seq or meta.get("max_predictions_per_seq")
    if not seq or not pred:
        seq, pred = _lengths_from_first_record(files[0])
    compression = "GZIP" if files[0].endswith(".gz") else ""
    spec = feature_spec(seq, pred)
    return tf.data.TFRecordDataset(files, compression_type=compression).map(
        tf.autograph.experimental.do_not_convert(lambda s: tf.io.parse_single_example(s, spec)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def _lengths_from_first_record(path: str) -> Tuple[int, int]:
    try:
        for data in tfrecords.iter_records(path):
            features = tfrecords.parse_example(data)
            return len(features["input_ids"]), len(features["masked_lm_positions"])
    except (tfrecords.RecordError, ValueError, KeyError) as e:
        raise InputError(f"{path} is not a tf-mlm TFRecord shard: {e}") from None
    raise InputError(f"{path} is empty")


def read_records(
    path: str, limit: Optional[int] = None, require_metadata: bool = True
) -> Iterator[Dict[str, np.ndarray]]:
    """The records of an output, unpadded: dicts with ``input_ids`` (masked),
    ``masked_lm_positions`` and ``masked_lm_ids``, in write order within
    each shard (shard after shard). ``require_metadata``: see
    :func:`resolve_output`. TensorFlow is not needed (TFRecords are read by
    :mod:`tf_mlm.pretraining.tfrecords`)."""
    files, _ = resolve_output(path, require_metadata=require_metadata)
    count = 0
    for f in files:
        if _is_jsonl(f):
            opener = gzip.open if f.endswith(".gz") else open
            try:
                with opener(f, "rt", encoding="utf-8") as lines:
                    for lineno, line in enumerate(lines, 1):
                        if limit is not None and count >= limit:
                            return
                        try:
                            obj = json.loads(line)
                            rec = {
                                k: np.asarray(obj[k], np.int64)
                                for k in ("input_ids", "masked_lm_positions", "masked_lm_ids")
                            }
                        except (ValueError, KeyError, TypeError) as e:
                            raise InputError(f"{f}:{lineno}: not a tf-mlm record: {e}") from None
                        count += 1
                        yield rec
            except OSError as e:
                raise InputError(f"cannot read {f}: {e.strerror or e}") from e
            continue
        try:
            for index, data in enumerate(tfrecords.iter_records(f), 1):
                if limit is not None and count >= limit:
                    return
                count += 1
                yield _unpadded(tfrecords.parse_example(data), f"{f}: record {index}")
        except tfrecords.RecordError as e:
            raise InputError(f"cannot read {f} as tf-mlm TFRecords: {e}") from None
        except OSError as e:
            raise InputError(f"cannot read {f}: {e.strerror or e}") from e


def _unpadded(features: Dict, where: str) -> Dict[str, np.ndarray]:
    """A padded TFRecord output record, unpadded (lengths from its input
    mask and its weights)."""
    try:
        length = int(features["input_mask"].sum())
        npred = int((features["masked_lm_weights"] > 0).sum())
        return {
            "input_ids": features["input_ids"][:length],
            "masked_lm_positions": features["masked_lm_positions"][:npred],
            "masked_lm_ids": features["masked_lm_ids"][:npred],
        }
    except (KeyError, AttributeError, TypeError) as e:
        raise InputError(f"{where}: not a tf-mlm record (feature {e} missing)") from None


def classify(record: Dict[str, np.ndarray], mask_token: Optional[int]) -> List[str]:
    """For each masked position: ``"mask"`` (shows the mask token),
    ``"keep"`` (shows its original id; includes random draws that hit the
    original) or ``"random"``.

    >>> rec = {"input_ids": np.array([1, 9, 5, 7]), "masked_lm_positions": np.array([1, 2, 3]),
    ...        "masked_lm_ids": np.array([4, 5, 6])}
    >>> classify(rec, mask_token=9)
    ['mask', 'keep', 'random']
    """
    shown = record["input_ids"][record["masked_lm_positions"]]
    out = []
    for s, orig in zip(shown.tolist(), record["masked_lm_ids"].tolist()):
        out.append(
            "mask"
            if mask_token is not None and s == mask_token and orig != mask_token
            else "keep"
            if s == orig
            else "random"
        )
    return out


def original_ids(record: Dict[str, np.ndarray]) -> np.ndarray:
    """The input sequence before masking."""
    ids = record["input_ids"].copy()
    ids[record["masked_lm_positions"]] = record["masked_lm_ids"]
    return ids


def check_record(record: Dict[str, np.ndarray]) -> Optional[str]:
    """A description of what is inconsistent in a record, or None."""
    pos, n = record["masked_lm_positions"], len(record["input_ids"])
    if len(pos) != len(record["masked_lm_ids"]):
        return "positions and ids differ in length"
    if len(pos) and (pos.min() < 0 or pos.max() >= n):
        return "a masked position lies outside the sequence"
    if len(pos) > 1 and (np.diff(pos) <= 0).any():
        return "masked positions are not strictly ascending"
    return None


def expected_masked(record: Dict[str, np.ndarray], masking: Dict) -> Optional[float]:
    """The number of masked tokens that ``masking`` (the ``masking`` object
    of ``metadata.json``) gives ``record`` on average, or None where it
    depends on more than the record (whole words, spans). The exact mode
    masks ``ceil(rate * selectable)`` tokens per sequence, computed in
    float32 as the kernels do, so short sequences get more than ``rate``.

    >>> rec = {"input_ids": np.array([101, 5, 6, 7, 102]),
    ...        "masked_lm_positions": np.array([2]), "masked_lm_ids": np.array([6])}
    >>> masking = {"selection_mode": "exact", "selection_rate": 0.15,
    ...            "unselectable_ids": [101, 102], "max_predictions_per_seq": 20}
    >>> expected_masked(rec, masking)  # ceil(3 * 0.15) = 1 of 5 tokens
    1.0
    """
    law = _ExpectedCount.of(masking)
    return None if law is None else law(record)


class _ExpectedCount:
    """:func:`expected_masked` for one ``masking`` object, its parameters
    read once (``summarize`` calls it for every record)."""

    @classmethod
    def of(cls, masking: Optional[Dict]) -> Optional["_ExpectedCount"]:
        if not masking or masking.get("whole_word") or masking.get("span"):
            return None
        return cls(masking)

    def __init__(self, masking: Dict):
        self.unselectable = [int(i) for i in masking.get("unselectable_ids") or []]
        caps = [c for c in (masking.get("max_selections"), masking.get("max_predictions_per_seq"))]
        self.cap = min([c for c in caps if c] or [np.inf])
        self.rate = np.float32(masking.get("selection_rate", 0.0))
        self.bernoulli = masking.get("selection_mode") == "bernoulli"

    def __call__(self, record: Dict[str, np.ndarray]) -> float:
        ids = original_ids(record)
        selectable = len(ids) - sum(int(np.count_nonzero(ids == u)) for u in self.unselectable)
        if self.bernoulli:
            want = float(selectable * self.rate)
        else:
            want = float(np.ceil(np.float32(selectable) * self.rate))
        return float(min(want, self.cap, selectable))


def summarize(
    records,
    mask_token: Optional[int] = None,
    max_seq_length: Optional[int] = None,
    bins: int = 8,
    masking: Optional[Dict] = None,
) -> Dict:
    """Summary statistics of output records (see :func:`read_records`).

    >>> rec = {"input_ids": np.array([1, 9, 5, 7]), "masked_lm_positions": np.array([1, 3]),
    ...        "masked_lm_ids": np.array([4, 7])}
    >>> s = summarize([rec], mask_token=9)
    >>> s["records"], s["tokens"], s["masked"], s["split"]
    (1, 4, 2, {'mask': 1, 'random': 0, 'keep': 1})
    """
    lengths: List[int] = []
    npred: List[int] = []
    split = collections.Counter({"mask": 0, "random": 0, "keep": 0})
    problems: List[str] = []
    law = _ExpectedCount.of(masking)
    expected: Optional[float] = 0.0 if law is not None else None
    for i, rec in enumerate(records):
        lengths.append(len(rec["input_ids"]))
        npred.append(len(rec["masked_lm_positions"]))
        problem = check_record(rec)
        if problem:
            if len(problems) < 5:
                problems.append(f"record {i}: {problem}")
            continue
        split.update(classify(rec, mask_token))
        if law is not None:
            expected += law(rec)
    tokens, masked = int(sum(lengths)), int(sum(npred))
    top = max_seq_length or (max(lengths) if lengths else 1)
    edges = np.unique(np.linspace(0, top, bins + 1).round().astype(int))
    hist, _ = np.histogram(lengths, bins=edges) if lengths else (np.zeros(len(edges) - 1), None)
    return {
        "records": len(lengths),
        "tokens": tokens,
        "masked": masked,
        "masked_fraction": masked / tokens if tokens else 0.0,
        "expected_masked_fraction": (
            expected / tokens if expected is not None and tokens else None
        ),
        "split": dict(split)
        if mask_token is not None
        else {"keep": split["keep"], "changed": split["mask"] + split["random"]},
        "predictions_per_record": {
            "mean": float(np.mean(npred)) if npred else 0.0,
            "max": int(max(npred)) if npred else 0,
        },
        "length": {
            "min": int(min(lengths)) if lengths else 0,
            "max": int(max(lengths)) if lengths else 0,
            "mean": float(np.mean(lengths)) if lengths else 0.0,
            "histogram": [
                [int(edges[k]) + 1, int(edges[k + 1]), int(hist[k])] for k in range(len(hist))
            ],
        },
        "problems": problems,
    }


def render_record(
    record: Dict[str, np.ndarray], vocab=None, mask_token: Optional[int] = None, color: bool = False
) -> str:
    """The masked sequence as text: tokens (or ids), each masked one shown
    as ``<shown=original>`` (``<original>`` when kept), in colour when
    ``color`` (yellow: mask token, red: random, green: kept).

    >>> rec = {"input_ids": np.array([1, 9, 5, 7]), "masked_lm_positions": np.array([1, 3]),
    ...        "masked_lm_ids": np.array([4, 7])}
    >>> render_record(rec, mask_token=9)
    '1 <9=4> 5 <7>'
    """
    name = (lambda i: vocab.token(int(i))) if vocab is not None else str
    kinds = dict(zip(record["masked_lm_positions"].tolist(), classify(record, mask_token)))
    originals = dict(zip(record["masked_lm_positions"].tolist(), record["masked_lm_ids"].tolist()))
    out = []
    for pos, i in enumerate(record["input_ids"].tolist()):
        if pos not in kinds:
            out.append(name(i))
            continue
        text = f"<{name(i)}>" if kinds[pos] == "keep" else f"<{name(i)}={name(originals[pos])}>"
        out.append(f"{_ANSI[kinds[pos]]}{text}{_ANSI['end']}" if color else text)
    return " ".join(out)


def format_summary(stats: Dict, width: int = 40) -> str:
    """``summarize``'s statistics as the text of ``tf-mlm inspect``."""
    lines = [
        f"records: {stats['records']}, tokens: {stats['tokens']}, masked: "
        f"{stats['masked']} ({stats['masked_fraction']:.2%})"
    ]
    if stats.get("expected_masked_fraction") is not None:
        lines.append(
            f"expected masked share: {stats['expected_masked_fraction']:.2%} (each sequence "
            "masks its rate times its selectable tokens, rounded up, up to the cap; "
            "short sequences round up most)"
        )
    split = stats["split"]
    total = sum(split.values()) or 1
    if "mask" in split:
        lines.append(
            f"masked tokens: mask token {split['mask'] / total:.1%}, random "
            f"{split['random'] / total:.1%}, kept {split['keep'] / total:.1%} "
            "(random draws equal to the original count as kept)"
        )
    else:
        lines.append(
            f"masked tokens: changed {split['changed'] / total:.1%}, kept "
            f"{split['keep'] / total:.1%} (give --mask-token to split mask/random)"
        )
    p = stats["predictions_per_record"]
    lines.append(f"predictions per record: mean {p['mean']:.2f}, max {p['max']}")
    length = stats["length"]
    lines.append(
        f"sequence length: min {length['min']}, mean {length['mean']:.1f}, max {length['max']}"
    )
    peak = max((c for _, _, c in length["histogram"]), default=0) or 1
    for lo, hi, count in length["histogram"]:
        bar = "#" * int(round(width * count / peak))
        lines.append(f"  {lo:>6}-{hi:<6} {bar} {count}")
    if stats["problems"]:
        lines.append("PROBLEMS: " + "; ".join(stats["problems"]))
    return "\n".join(lines)
