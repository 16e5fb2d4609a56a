"""T5's sequence lengths of span corruption, in plain Python: the raw
length whose corrupted inputs fit a given inputs length (t5's
``random_spans_helper``), for :mod:`tf_mlm.t5` and for ``tf-mlm mask
--inputs-length``, which decides it before TensorFlow is imported."""

from __future__ import annotations

from typing import Optional, Tuple


def encoded_lengths(
    tokens_length: int,
    noise_density: float,
    mean_noise_span_length: float,
    extra_tokens_per_span_inputs: int = 1,
    extra_tokens_per_span_targets: int = 1,
) -> Tuple[int, int]:
    """(inputs, targets) lengths, each with its EOS, of ``tokens_length``
    tokens; Python's float64 ``round`` as t5 has it (not the mask's float32).

    >>> encoded_lengths(568, 0.15, 3.0)
    (512, 114)
    """
    noise = int(round(tokens_length * noise_density))
    spans = int(round(noise / mean_noise_span_length))
    return (
        tokens_length - noise + spans * extra_tokens_per_span_inputs + 1,
        noise + spans * extra_tokens_per_span_targets + 1,
    )


def raw_lengths(
    inputs_length: int,
    noise_density: float,
    mean_noise_span_length: float,
    extra_tokens_per_span_inputs: int = 1,
    extra_tokens_per_span_targets: int = 1,
    start: Optional[int] = None,
) -> Tuple[int, int, int]:
    """``(tokens_length, targets_length, encoded_inputs_length)``: the most
    raw tokens whose corrupted inputs (with EOS) fit in ``inputs_length``,
    the length of their targets (with EOS), and of their inputs. The search
    starts at ``start`` tokens: t5's ``inputs_length - 1`` by default
    (transformers' Flax example starts at ``inputs_length``).

    >>> raw_lengths(512, 0.15, 3.0)
    (568, 114, 512)
    """
    args = (
        noise_density,
        mean_noise_span_length,
        extra_tokens_per_span_inputs,
        extra_tokens_per_span_targets,
    )
    tokens_length = inputs_length - 1 if start is None else start
    while encoded_lengths(tokens_length + 1, *args)[0] <= inputs_length:
        tokens_length += 1
    encoded_inputs, targets_length = encoded_lengths(tokens_length, *args)
    if noise_density == 0.5 and targets_length > encoded_inputs:
        # t5 trims one token so that targets are no longer than inputs
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length, encoded_inputs
