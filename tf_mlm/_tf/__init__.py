"""The TensorFlow side shared by the TensorFlow front ends (``tf_mlm.text``,
``tf_mlm.layers``, ``tf_mlm.pretraining``): loading (and when needed
building) the op library, calling its fused kernels, RaggedTensor helpers and
the eagerly cached constants. Every module here imports TensorFlow.
"""
