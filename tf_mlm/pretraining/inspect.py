"""Reading ``tf-mlm mask`` output back: records, a training ``tf.data``
pipeline, and the summary statistics of ``tf-mlm inspect``."""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from tf_mlm.pretraining import tfrecords
from tf_mlm.pretraining.readers import InputError
from tf_mlm.pretraining.records import (
    METADATA,
    SPAN_FEATURES,
    feature_spec,
    is_shard_name,
    span_feature_spec,
)
from tf_mlm.pretraining.statistics import (  # noqa: F401  (re-exported)
    check_record,
    classify,
    expected_masked,
    format_summary,
    original_ids,
    render_record,
    summarize,
)


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
    fixed-length features; of ``inputs`` and ``targets``, int64 vectors,
    for span corruption), e.g. to feed a training loop.

    ``path`` is an output directory (lengths from its ``metadata.json``),
    a shard or a glob; lengths given here override the metadata.
    """
    import tensorflow as tf

    files, meta = resolve_output(path)
    compression = "GZIP" if files[0].endswith(".gz") else ""
    if _objective(meta, files[0]) == "span_corruption":
        spec = span_feature_spec()
    else:
        seq = max_seq_length or meta.get("max_seq_length")
        pred = max_predictions_per_seq or meta.get("max_predictions_per_seq")
        if not seq or not pred:
            seq, pred = _lengths_from_first_record(files[0])
        spec = feature_spec(seq, pred)
    return tf.data.TFRecordDataset(files, compression_type=compression).map(
        tf.autograph.experimental.do_not_convert(lambda s: tf.io.parse_single_example(s, spec)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def _objective(meta: Dict, first_file: str) -> str:
    """``"mlm"`` or ``"span_corruption"``: the metadata's, else that of the
    first record of ``first_file``."""
    if meta.get("objective"):
        return meta["objective"]
    if not meta and not _is_jsonl(first_file):
        try:
            for data in tfrecords.iter_records(first_file):
                if "inputs" in tfrecords.parse_example(data):
                    return "span_corruption"
                break
        except (tfrecords.RecordError, ValueError) as e:
            raise InputError(f"{first_file} is not a tf-mlm TFRecord shard: {e}") from None
    return "mlm"


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
    ``masked_lm_positions`` and ``masked_lm_ids`` (span corruption: with
    ``inputs`` and ``targets``), in write order within
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
                            names = (
                                SPAN_FEATURES
                                if "inputs" in obj
                                else ("input_ids", "masked_lm_positions", "masked_lm_ids")
                            )
                            rec = {k: np.asarray(obj[k], np.int64) for k in names}
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
                try:
                    features = tfrecords.parse_example(data)
                except ValueError as e:
                    raise InputError(f"{f}: record {index}: {e}") from None
                yield _unpadded(features, f"{f}: record {index}")
        except tfrecords.RecordError as e:
            raise InputError(f"cannot read {f} as tf-mlm TFRecords: {e}") from None
        except OSError as e:
            raise InputError(f"cannot read {f}: {e.strerror or e}") from e


def _unpadded(features: Dict, where: str) -> Dict[str, np.ndarray]:
    """A padded TFRecord output record, unpadded (lengths from its input
    mask and its weights); span corruption's as it is."""
    if "inputs" in features and "targets" in features:
        return {k: features[k] for k in SPAN_FEATURES}
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
