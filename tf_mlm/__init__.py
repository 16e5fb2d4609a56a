"""tf_mlm: fast dynamic masked-language-model masking for TensorFlow.

A drop-in replacement for tensorflow_text's masking API, with the work done
by C++ kernels on RaggedTensor components::

    import tf_mlm as text   # instead of: import tensorflow_text as text

TensorFlow is imported on first use of a TensorFlow-facing name, so that
``tf_mlm.numpy`` works in processes without TensorFlow.
"""

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

# public name -> module defining it
_EXPORTS = {
    "FirstNItemSelector": "tf_mlm.text.item_selector",
    "ItemSelector": "tf_mlm.text.item_selector",
    "LastNItemSelector": "tf_mlm.text.item_selector",
    "NothingSelector": "tf_mlm.text.item_selector",
    "RandomItemSelector": "tf_mlm.text.item_selector",
    "MaskValuesChooser": "tf_mlm.text.mask_values_chooser",
    "SpanItemSelector": "tf_mlm.text.span_selector",
    "group_words": "tf_mlm.text.words",
    "sentencepiece_continuation_table": "tf_mlm.text.words",
    "wordpiece_continuation_table": "tf_mlm.text.words",
    "mask_language_model": "tf_mlm.text.masking",
    "span_corruption": "tf_mlm._tf.t5",
    "SpanCorruption": "tf_mlm._tf.t5",
    "get_library_path": "tf_mlm._tf.library",
    "load_ops": "tf_mlm._tf.library",
}

__all__ = sorted(_EXPORTS)


# subpackages / modules reachable as attributes without an explicit import
_SUBMODULES = (
    "cli",
    "collator",
    "hf",
    "layers",
    "numpy",
    "options",
    "pretraining",
    "text",
    "vocab",
)

# Module paths of the tensorflow_text front end and the demo before they
# moved into `tf_mlm.text` and `tf_mlm.cli`: importing an old path imports
# the module's new home and registers that same module object under the old
# name too (`tf_mlm.masking is tf_mlm.text.masking`), so imports, attribute
# access and `unittest.mock.patch` by either path see one module.
_MOVED = {
    "item_selector": "tf_mlm.text.item_selector",
    "mask_values_chooser": "tf_mlm.text.mask_values_chooser",
    "masking": "tf_mlm.text.masking",
    "span_selector": "tf_mlm.text.span_selector",
    "words": "tf_mlm.text.words",
    "demo": "tf_mlm.cli.demo",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The import system's finder and loader of the old module paths."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in _MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module(_MOVED[spec.name.rpartition(".")[2]])
        self._own_spec = module.__spec__  # the import system sets the alias's
        return module

    def exec_module(self, module):
        module.__spec__ = self._own_spec  # the module keeps its own identity


sys.meta_path.append(_MovedModules())


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"tf_mlm.{name}")
    if name in _MOVED:
        return importlib.import_module(_MOVED[name])
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tf_mlm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES) | set(_MOVED))


# With TensorFlow already imported, register the ops right away, so that
# `import tensorflow as tf; import tf_mlm; tf.saved_model.load(...)` works.
# Without it, nothing is imported here: `tf_mlm.numpy` stays TensorFlow-free
# (call `tf_mlm.load_ops()` once TensorFlow is imported).
if sys.modules.get("tensorflow") is not None:
    __getattr__("load_ops")()
