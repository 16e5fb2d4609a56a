"""Static (offline) MLM pretraining data: the machinery behind ``tf-mlm mask``
and ``tf-mlm inspect``; also T5 span-corruption data
(:class:`SpanCorruptionConfig`, records of seqio's ``inputs`` and ``targets``).

BERT's ``create_pretraining_data.py`` workflow on tf_mlm's kernels: read
tokenized sequences (:mod:`~tf_mlm.pretraining.readers`), mask each one
``dupe_factor`` times with a per-record stateless seed in a parallel
``tf.data`` map (:mod:`~tf_mlm.pretraining.pipeline`), write sharded
TFRecords with BERT's feature names or JSON Lines, published atomically
with per-shard checksums (:mod:`~tf_mlm.pretraining.writers`), and verify,
read back or summarise them (:mod:`~tf_mlm.pretraining.inspect`).

Reading the output in a training input pipeline::

    ds = tf_mlm.pretraining.read_tfrecords("out/")   # parsed, fixed-length features
"""

# The submodules import TensorFlow only inside the functions that need it.
from tf_mlm.pretraining.config import SpanCorruptionConfig
from tf_mlm.pretraining.inspect import (
    DatasetError,
    read_records,
    read_tfrecords,
    summarize,
    verify_output,
)
from tf_mlm.pretraining.pipeline import MaskingConfig, record_seed, run_mask
from tf_mlm.pretraining.readers import InputError, SequenceReader
from tf_mlm.pretraining.vocab import Vocabulary
from tf_mlm.pretraining.writers import OutputError, feature_spec, span_feature_spec

__all__ = [
    "DatasetError",
    "InputError",
    "MaskingConfig",
    "OutputError",
    "SequenceReader",
    "SpanCorruptionConfig",
    "Vocabulary",
    "feature_spec",
    "read_records",
    "read_tfrecords",
    "record_seed",
    "run_mask",
    "span_feature_spec",
    "summarize",
    "verify_output",
]
