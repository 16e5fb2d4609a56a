"""Shared pytest set-up (tests/ and the doctests in tf_mlm/): quiet
TensorFlow, `tf` and `tf_mlm` in the doctest namespace."""

import importlib.util
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

# tf_mlm.hf subclasses transformers' collator, so its module (and its
# doctests) import only where transformers is installed: the test extra
# installs it; the TensorFlow-matrix environments (tests/tf_matrix.sh) do not.
collect_ignore = [] if importlib.util.find_spec("transformers") else ["tf_mlm/hf.py"]
# tf_mlm.t5 needs seqio (the `t5` extra; tests/t5_job.sh installs it).
if not importlib.util.find_spec("seqio"):
    collect_ignore.append("tf_mlm/t5")
# tf_mlm.beam needs apache-beam (the `beam` extra; tests/beam_job.sh installs it).
if not importlib.util.find_spec("apache_beam"):
    collect_ignore.append("tf_mlm/beam.py")


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    import tensorflow as tf

    import tf_mlm

    doctest_namespace["tf"] = tf
    doctest_namespace["tf_mlm"] = tf_mlm
