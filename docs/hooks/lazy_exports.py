"""Griffe extension for the API reference: the public names that ``tf_mlm``
exports lazily.

``tf_mlm/__init__.py`` imports nothing: its ``__getattr__`` imports the
defining module on first use of a name listed in ``_EXPORTS`` (public name ->
module), so that ``tf_mlm.numpy`` works without TensorFlow. Griffe reads the
sources without importing them (mkdocs.yml), so it sees none of those names;
this extension adds each as an alias of the object in its defining module,
read from the same ``_EXPORTS`` literal.
"""

import ast

import griffe


class LazyExports(griffe.Extension):
    def on_package(self, *, pkg, **kwargs):
        exports = pkg.members.get("_EXPORTS")
        if exports is None or exports.value is None:
            return
        for name, module in ast.literal_eval(str(exports.value)).items():
            if name not in pkg.members:
                pkg.set_member(name, griffe.Alias(name, f"{module}.{name}", parent=pkg))
