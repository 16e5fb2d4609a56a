"""Per-object caching of the constant tensors fed to the kernels.

In eager mode every ``tf.constant``/``tf.cast`` of a Python number costs a
few microseconds per call; selectors and choosers are called in loops, so
their constant inputs are made once and kept. Inside a ``tf.function`` or a
TF1 graph nothing is cached: the tensors belong to that graph and are only
made while tracing.
"""

from __future__ import annotations

from typing import Callable, Hashable

import tensorflow as tf


def cached(owner, key: Hashable, make: Callable):
    if not tf.executing_eagerly():
        return make()
    cache = owner.__dict__.setdefault("_tf_mlm_constants", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]
