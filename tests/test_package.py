"""The package's import paths: the public names and modules, and the module
paths of the tensorflow_text front end and the demo from before they moved
into `tf_mlm.text` and `tf_mlm.cli`, which stay importable as aliases."""

import importlib

import pytest

import tf_mlm

MOVED = {
    "tf_mlm.item_selector": "tf_mlm.text.item_selector",
    "tf_mlm.mask_values_chooser": "tf_mlm.text.mask_values_chooser",
    "tf_mlm.masking": "tf_mlm.text.masking",
    "tf_mlm.span_selector": "tf_mlm.text.span_selector",
    "tf_mlm.words": "tf_mlm.text.words",
    "tf_mlm.demo": "tf_mlm.cli.demo",
}


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_an_old_module_path_gives_the_new_modules_objects(old, new):
    real = importlib.import_module(new)
    alias = importlib.import_module(old)
    public = [n for n in vars(real) if not n.startswith("_") and callable(getattr(real, n))]
    assert public
    for name in public:
        assert getattr(alias, name) is getattr(real, name)
    # as an attribute of the package, the module itself
    assert getattr(tf_mlm, old.rsplit(".", 1)[1]) is real


def test_from_an_old_path_import_a_name():
    from tf_mlm.item_selector import RandomItemSelector
    from tf_mlm.masking import mask_language_model

    assert mask_language_model is tf_mlm.mask_language_model
    assert RandomItemSelector is tf_mlm.RandomItemSelector


def test_an_old_path_without_the_name_raises_attribute_error():
    import tf_mlm.masking

    with pytest.raises(AttributeError):
        tf_mlm.masking.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    "module",
    ["cli", "collator", "hf", "layers", "numpy", "options", "pretraining", "text", "vocab"],
)
def test_public_modules_are_attributes_of_the_package(module):
    if module == "hf":
        pytest.importorskip("transformers", reason="tf_mlm.hf needs transformers (test extra)")
    assert getattr(tf_mlm, module) is importlib.import_module(f"tf_mlm.{module}")


def test_every_exported_name_resolves():
    for name in tf_mlm.__all__:
        assert getattr(tf_mlm, name) is not None
    assert set(tf_mlm.__all__) <= set(dir(tf_mlm))


def test_an_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tf_mlm.nope  # noqa: B018


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_an_old_module_path_is_the_same_module(old, new):
    import sys
    from unittest import mock

    alias, real = importlib.import_module(old), importlib.import_module(new)
    assert alias is real and sys.modules[old] is real
    assert real.__spec__.name == new  # the module keeps its own identity
    name = next(n for n in vars(real) if not n.startswith("_") and callable(getattr(real, n)))
    with mock.patch(f"{old}.{name}", "patched"):
        assert getattr(real, name) == "patched"
