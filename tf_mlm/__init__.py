"""tf_mlm: fast dynamic masked-language-model masking for TensorFlow.

A drop-in replacement for tensorflow_text's masking API, with the work done
by C++ kernels on RaggedTensor components::

    import tf_mlm as text   # instead of: import tensorflow_text as text

TensorFlow is imported on first use of a TensorFlow-facing name, so that
``tf_mlm.numpy`` works in processes without TensorFlow.
"""

import importlib

__version__ = "0.1.0"

# public name -> module defining it
_EXPORTS = {
    "FirstNItemSelector": "tf_mlm.item_selector",
    "ItemSelector": "tf_mlm.item_selector",
    "LastNItemSelector": "tf_mlm.item_selector",
    "NothingSelector": "tf_mlm.item_selector",
    "RandomItemSelector": "tf_mlm.item_selector",
    "MaskValuesChooser": "tf_mlm.mask_values_chooser",
    "SpanItemSelector": "tf_mlm.span_selector",
    "group_words": "tf_mlm.words",
    "sentencepiece_continuation_table": "tf_mlm.words",
    "wordpiece_continuation_table": "tf_mlm.words",
    "mask_language_model": "tf_mlm.masking",
    "get_library_path": "tf_mlm._library",
    "load_ops": "tf_mlm._library",
}

__all__ = sorted(_EXPORTS)


# subpackages / modules reachable as attributes without an explicit import
_SUBMODULES = ("collator", "hf", "layers", "numpy", "pretraining")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"tf_mlm.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tf_mlm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))


# With TensorFlow already imported, register the ops right away, so that
# `import tensorflow as tf; import tf_mlm; tf.saved_model.load(...)` works.
# Without it, nothing is imported here: `tf_mlm.numpy` stays TensorFlow-free
# (call `tf_mlm.load_ops()` once TensorFlow is imported).
import sys as _sys  # noqa: E402

if _sys.modules.get("tensorflow") is not None:
    __getattr__("load_ops")()
