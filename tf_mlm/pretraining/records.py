"""The records of ``tf-mlm mask`` output and the names of its files: the
TFRecord features (BERT's names; seqio's ``inputs`` and ``targets`` for
span corruption), the JSON Lines fields, the shard names.
"""

from __future__ import annotations

import json
import re
from typing import Dict, List

import numpy as np

FORMATS = ("tfrecord", "jsonl")
COMPRESSIONS = ("", "gzip")
METADATA = "metadata.json"
SHARD_PREFIX = "masked"
_SHARD_RE = re.compile(rf"^{SHARD_PREFIX}-\d{{5}}-of-\d{{5}}\.(tfrecord|jsonl)(\.gz)?$")
INT_FEATURES = ("input_ids", "input_mask", "masked_lm_positions", "masked_lm_ids")
SPAN_FEATURES = ("inputs", "targets")


def feature_spec(max_seq_length: int, max_predictions_per_seq: int) -> Dict:
    """The ``tf.io.parse_example`` spec of the TFRecord output (BERT's
    feature names and types).

    >>> spec = feature_spec(128, 20)
    >>> sorted(spec)
    ['input_ids', 'input_mask', 'masked_lm_ids', 'masked_lm_positions', 'masked_lm_weights']
    >>> spec["masked_lm_weights"]
    FixedLenFeature(shape=[20], dtype=tf.float32, default_value=None)
    """
    import tensorflow as tf

    seq, pred = [max_seq_length], [max_predictions_per_seq]
    return {
        "input_ids": tf.io.FixedLenFeature(seq, tf.int64),
        "input_mask": tf.io.FixedLenFeature(seq, tf.int64),
        "masked_lm_positions": tf.io.FixedLenFeature(pred, tf.int64),
        "masked_lm_ids": tf.io.FixedLenFeature(pred, tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature(pred, tf.float32),
    }


def span_feature_spec() -> Dict:
    """The ``tf.io.parse_example`` spec of span-corruption TFRecord output:
    ``inputs`` and ``targets``, int64 lists of any length (the
    ``feature_description`` of a ``seqio.TFExampleDataSource``).

    >>> sorted(span_feature_spec())
    ['inputs', 'targets']
    """
    import tensorflow as tf

    return {
        name: tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True)
        for name in SPAN_FEATURES
    }


def shard_names(num_shards: int, fmt: str, compression: str = "") -> List[str]:
    """>>> shard_names(2, "jsonl")
    ['masked-00000-of-00002.jsonl', 'masked-00001-of-00002.jsonl']
    """
    suffix = "." + fmt + (".gz" if compression == "gzip" else "")
    return [f"{SHARD_PREFIX}-{k:05d}-of-{num_shards:05d}{suffix}" for k in range(num_shards)]


def is_output_file(name: str) -> bool:
    """Whether ``name`` is a shard or metadata file this module writes."""
    return name == METADATA or is_shard_name(name)


def is_shard_name(name: str) -> bool:
    """Whether ``name`` is named like a shard this module writes."""
    return bool(_SHARD_RE.match(name))


def example_bytes(element: Dict) -> bytes:
    """A serialized ``tf.train.Example`` of one output record (padded
    masked-LM features, or span corruption's ``inputs`` and ``targets``),
    with its features in sorted order (deterministic across processes)."""
    import tensorflow as tf

    span = "inputs" in element
    feature = {
        name: tf.train.Feature(int64_list=tf.train.Int64List(value=element[name].tolist()))
        for name in (SPAN_FEATURES if span else INT_FEATURES)
    }
    if not span:
        feature["masked_lm_weights"] = tf.train.Feature(
            float_list=tf.train.FloatList(value=element["masked_lm_weights"].tolist())
        )
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(
        deterministic=True
    )


def json_line(element: Dict) -> str:
    """One JSON Lines output record (unpadded)."""
    names = (
        SPAN_FEATURES
        if "inputs" in element
        else ("input_ids", "masked_lm_positions", "masked_lm_ids")
    )
    return (
        json.dumps(
            {name: np.asarray(element[name]).tolist() for name in names},
            separators=(",", ":"),
        )
        + "\n"
    )
