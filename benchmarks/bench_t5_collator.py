"""tf_mlm.hf.DataCollatorForT5MLM vs the DataCollatorForT5MLM of transformers'
Flax example (``FlaxDataCollatorForT5MLM`` in
``examples/flax/language-modeling/run_t5_mlm_flax.py``).

The same batch through both: 256 rows of ``input_ids`` of the length that
``compute_input_and_target_lengths(512, 0.15, 3.0)`` gives (568; int64
ids, uniform in [2, 32000), seed 0), T5's defaults (``noise_density`` 0.15,
``mean_noise_span_length`` 3), inputs of 512 and targets of 114 tokens,
a tokenizer of 32,100 ids (EOS 1). Timings are the median of ``repeats``
calls after a warm-up, the systems taking turns (``median_ms`` of
bench_collator). Reported: ms per batch and the example's time over
tf_mlm's.

The example is not in any pip package: pass the path of the file with
``--flax-example PATH`` (or ``TF_MLM_FLAX_T5_EXAMPLE=PATH``). It is in
transformers' repository up to the 4.x releases, e.g.::

    git clone --depth 1 --branch v4.46.0 https://github.com/huggingface/transformers
    python -m benchmarks.bench_t5_collator \\
        --flax-example transformers/examples/flax/language-modeling/run_t5_mlm_flax.py

Only the collator class and ``compute_input_and_target_lengths`` are taken
from the file (so flax, optax and datasets need not be installed); the
example's ``shift_tokens_right`` (transformers' Flax T5 module, gone from
transformers 5) is replaced by NumPy's equivalent.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import types
import typing

import numpy as np

from benchmarks.bench_collator import median_ms
from tf_mlm.hf import DataCollatorForT5MLM, compute_input_and_target_lengths

ENV = "TF_MLM_FLAX_T5_EXAMPLE"
EXAMPLE_NAMES = ("compute_input_and_target_lengths", "FlaxDataCollatorForT5MLM")
REFERENCE = {
    "rows": 256,
    "input_length": 512,
    "noise_density": 0.15,
    "mean_noise_span_length": 3.0,
    "vocab_size": 32100,
    "eos": 1,
    "pad": 0,
    "seed": 0,
}


class Tokenizer:
    """What both collators read of a tokenizer."""

    def __init__(self, size: int, eos: int, pad: int):
        self.size, self.eos_token_id, self.pad_token_id = size, eos, pad

    def __len__(self):
        return self.size


def _shift_tokens_right(input_ids, pad_token_id, decoder_start_token_id):
    shifted = np.zeros_like(input_ids)
    shifted[:, 1:] = input_ids[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return np.where(shifted == -100, pad_token_id, shifted)


def load_example(path: str) -> types.SimpleNamespace:
    """The example's collator class and ``compute_input_and_target_lengths``,
    compiled from the file at ``path`` without running the rest of it."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    nodes = [n for n in tree.body if getattr(n, "name", None) in EXAMPLE_NAMES]
    if len(nodes) != len(EXAMPLE_NAMES):
        raise ValueError(f"{path} does not define {' and '.join(EXAMPLE_NAMES)}")
    for node in nodes:
        if isinstance(node, ast.ClassDef):  # flax.struct.dataclass: a frozen dataclass
            node.decorator_list = [ast.Name("_dataclass", ast.Load())]
    module = ast.fix_missing_locations(ast.Module(body=nodes, type_ignores=[]))
    from transformers import BatchEncoding, PreTrainedTokenizerBase

    namespace = {
        "np": np,
        "BatchEncoding": BatchEncoding,
        "PreTrainedTokenizerBase": PreTrainedTokenizerBase,
        "shift_tokens_right": _shift_tokens_right,
        "_dataclass": dataclasses.dataclass(frozen=True),
        **{name: getattr(typing, name) for name in ("Dict", "List", "Optional")},
    }
    try:  # older versions of the example count span lengths with jax
        import jax

        namespace["jax"] = jax
    except ImportError:
        pass
    exec(compile(module, path, "exec"), namespace)
    return types.SimpleNamespace(**{name: namespace[name] for name in EXAMPLE_NAMES})


def example_path(argv=None, doc: str = __doc__) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--flax-example", default=os.environ.get(ENV))
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    if not args.flax_example:
        parser.error(
            f"pass --flax-example PATH (or set {ENV}): the path of transformers' "
            "examples/flax/language-modeling/run_t5_mlm_flax.py (see this module's docstring "
            "for how to get it)"
        )
    return args


def reference_batch(ref):
    tokens, targets = compute_input_and_target_lengths(
        ref["input_length"], ref["noise_density"], ref["mean_noise_span_length"]
    )
    rng = np.random.default_rng(ref["seed"])
    ids = rng.integers(2, ref["vocab_size"] - 100, size=(ref["rows"], tokens), dtype=np.int64)
    return [{"input_ids": row} for row in ids], tokens, targets


def run(path: str, repeats: int = 20, ref=None) -> dict:
    ref = dict(REFERENCE, **(ref or {}))
    example = load_example(path)
    examples, tokens, targets = reference_batch(ref)
    if example.compute_input_and_target_lengths(
        ref["input_length"], ref["noise_density"], ref["mean_noise_span_length"]
    ) != (tokens, targets):
        raise AssertionError("compute_input_and_target_lengths differs from the example's")
    fields = dict(
        tokenizer=Tokenizer(ref["vocab_size"], ref["eos"], ref["pad"]),
        noise_density=ref["noise_density"],
        mean_noise_span_length=ref["mean_noise_span_length"],
        input_length=ref["input_length"],
        target_length=targets,
        pad_token_id=ref["pad"],
        decoder_start_token_id=ref["pad"],
    )
    systems = {
        "tf_mlm": DataCollatorForT5MLM(**fields, seed=ref["seed"]),
        "example": example.FlaxDataCollatorForT5MLM(**fields),
    }
    shapes = {}
    for name, collate in systems.items():
        batch = collate(examples)
        shapes[name] = {k: (v.shape, v.dtype.name) for k, v in batch.items()}
    if shapes["tf_mlm"] != shapes["example"]:
        raise AssertionError(f"different batches: {shapes}")
    ms = median_ms(systems, examples, repeats)
    return {
        "ms": ms,
        "ratio": {"example": ms["example"] / ms["tf_mlm"]},
        "rows": ref["rows"],
        "tokens_length": tokens,
        "targets_length": targets,
        "repeats": repeats,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }


def main(argv=None):
    args = example_path(argv)
    result = run(args.flax_example, repeats=args.repeats)
    ref = REFERENCE
    print(
        f"{result['rows']} rows of {result['tokens_length']} tokens -> inputs "
        f"{ref['input_length']}, labels {result['targets_length']} (density "
        f"{ref['noise_density']}, mean span {ref['mean_noise_span_length']}); median of "
        f"{result['repeats']} calls (load average {result['load_average']:.1f} on "
        f"{result['cpus']} CPUs)"
    )
    for name, ms in result["ms"].items():
        print(f"  {name:8s} {ms:9.2f} ms")
    print(f"the example takes {result['ratio']['example']:.1f}x tf_mlm's time")


if __name__ == "__main__":
    main()
