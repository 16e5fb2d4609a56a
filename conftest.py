"""Shared pytest set-up (tests/ and the doctests in tf_mlm/): quiet
TensorFlow, `tf` and `tf_mlm` in the doctest namespace."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    import tensorflow as tf

    import tf_mlm

    doctest_namespace["tf"] = tf
    doctest_namespace["tf_mlm"] = tf_mlm
