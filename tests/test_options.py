"""tf_mlm.options: the one options model of a masking run, its defaults
(the only Python defaults of the front ends) and its validation by the core
under each front end's names."""

import dataclasses
import inspect

import numpy as np
import pytest

from tf_mlm import options
from tf_mlm.options import MaskingOptions

DEFAULTS = {
    "selection_rate": options.SELECTION_RATE,
    "mask_token_rate": options.MASK_TOKEN_RATE,
    "random_token_rate": options.RANDOM_TOKEN_RATE,
    "max_span_length": options.MAX_SPAN_LENGTH,
}


def test_the_defaults_are_bert_and_spanbert():
    assert (options.SELECTION_RATE, options.MASK_TOKEN_RATE, options.RANDOM_TOKEN_RATE) == (
        0.15,
        0.8,
        0.1,
    )
    assert (options.SPAN_P, options.MAX_SPAN_LENGTH) == (0.2, 10)
    fields = {f.name: f.default for f in dataclasses.fields(MaskingOptions)}
    for name, value in DEFAULTS.items():
        assert fields[name] == value


def signature_defaults(fn):
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def front_ends():
    import tf_mlm
    from tf_mlm import numpy as tfnp
    from tf_mlm.collator import MLMCollator
    from tf_mlm.layers import MaskedLMMaskGenerator
    from tf_mlm.pretraining.pipeline import MaskingConfig

    return {
        "numpy.mask_ragged": (tfnp.mask_ragged, {}),
        "numpy.mask_spans": (tfnp.mask_spans, {"p": "span_p"}),
        "MLMCollator": (MLMCollator.__init__, {}),
        "MaskValuesChooser": (tf_mlm.MaskValuesChooser.__init__, {}),
        "SpanItemSelector": (tf_mlm.SpanItemSelector.__init__, {"p": "span_p"}),
        "MaskedLMMaskGenerator": (MaskedLMMaskGenerator.__init__, {}),
        "pipeline.MaskingConfig": (MaskingConfig, {}),
    }


@pytest.mark.parametrize("front_end", list(front_ends()))
def test_front_end_signatures_take_the_model_defaults(front_end):
    fn, renamed = front_ends()[front_end]
    defaults = signature_defaults(fn)
    expected = dict(DEFAULTS, span_p=options.SPAN_P)
    checked = 0
    for name, value in defaults.items():
        key = renamed.get(name, name)
        if key in expected and not (key == "span_p" and value is None):  # spans opt-in
            assert value == expected[key], (front_end, name)
            checked += 1
    assert checked >= 2


def test_cli_defaults_are_the_model_defaults():
    from tf_mlm import cli

    parser = cli._build_parser()
    args = parser.parse_args(["mask", "x", "--output-dir", "y", "--vocab-size", "5"])
    assert args.selection_rate == options.SELECTION_RATE
    assert (args.mask_token_rate, args.random_token_rate) == (
        options.MASK_TOKEN_RATE,
        options.RANDOM_TOKEN_RATE,
    )
    assert (args.span_p, args.max_span_length) == (options.SPAN_P, options.MAX_SPAN_LENGTH)


def test_core_kwargs_check_types_and_pick_the_pass():
    items = MaskingOptions(vocab_size=10, mask_token=3).core_kwargs()
    assert items["selection_mode"] == "exact" and "p" not in items
    assert items["max_selections"] == 2**63 - 1 and items["pad_to"] == -1
    spans = MaskingOptions(vocab_size=10, mask_token=3, span_p=0.5, pad_to=4).core_kwargs()
    assert spans["p"] == 0.5 and spans["max_span_length"] == 10 and spans["pad_to"] == 4
    assert "selection_mode" not in spans
    assert MaskingOptions(vocab_size=10, mask_token=3, axis=-1).core_kwargs(2)["axis"] == 2
    with pytest.raises(TypeError, match="`selection_rate` must be a real number"):
        MaskingOptions(vocab_size=10, mask_token=3, selection_rate="high").core_kwargs()
    with pytest.raises(TypeError, match=r"`p` must be a real number in \(0, 1\]"):
        MaskingOptions(vocab_size=10, mask_token=3, span_p="x").core_kwargs()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(selection_rate=-0.5), "selection_rate must be a finite number >= 0"),
        (dict(mask_token_rate=0.9, random_token_rate=0.2), r"mask_token_rate \+ random_token"),
        (dict(vocab_size=0), "vocab_size` must be >= 1"),
        (dict(max_selections=-1), "max_selections must be >= 0"),
        (dict(span_p=1.5), r"p must be"),
        (dict(span_p=0.2, max_span_length=0), "max_span_length"),
        (dict(pad_to=-2), "`pad_to` must be >= 0 or None"),
        (dict(replacement_frequencies=[1.0, 2.0]), "replacement_frequencies"),
    ],
)
def test_the_core_validates_with_its_messages(kwargs, match):
    base = dict(vocab_size=10, mask_token=3)
    with pytest.raises(ValueError, match=match):
        MaskingOptions(**dict(base, **kwargs)).validate()


def test_messages_name_the_front_end_arguments():
    names = {"selection_rate": "mlm_probability", "pad_to": "mask_selection_length"}
    with pytest.raises(ValueError, match=r"^mlm_probability must be a finite number >= 0"):
        MaskingOptions(vocab_size=10, mask_token=3, selection_rate=-1.0, names=names).validate()
    with pytest.raises(ValueError, match="`mask_selection_length` must be >= 0 or None"):
        MaskingOptions(vocab_size=10, mask_token=3, pad_to=-3, names=names).validate()
    # Valid options pass and validate() returns them.
    o = MaskingOptions(vocab_size=10, mask_token=3, unselectable_ids=np.array([0, 1]))
    assert o.validate() is o
