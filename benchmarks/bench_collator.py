"""tf_mlm's MLMCollator vs a HuggingFace-style NumPy MLM collator.

The HuggingFace-style collator is written here from the algorithm that
``transformers.DataCollatorForLanguageModeling`` publishes for NumPy
batches of plain id sequences (no tokenizer is needed to run it):

1. pad: a ``[batch, longest]`` array filled with the pad id, each example
   copied into its row;
2. special-tokens mask: the tokenizer's ``get_special_tokens_mask(row,
   already_has_special_tokens=True)`` for every row (membership of each id
   in the list of special ids, in Python) when the examples carry no
   ``special_tokens_mask``;
3. a probability matrix of ``mlm_probability`` with 0 on special tokens,
   one Bernoulli draw per position; labels -100 where not drawn;
4. 80/10/10: a Bernoulli(0.8) matrix selects the ``[MASK]`` replacements,
   a Bernoulli(0.5) matrix half of the rest for random ids.

Two variants are timed: ``hf`` does step 2 as HuggingFace does (a Python
loop over the ids), ``hf_vectorized`` with ``np.isin`` (a best case for
the HuggingFace algorithm that it does not itself take). The HuggingFace
collator has no per-row cap; the cap of the reference batch (76) is
rarely reached at rate 0.15 with rows of at most 512 tokens, so the
comparison stands.

Run: ``python -m benchmarks.bench_collator [--repeats N]``. Timings are
the median of ``repeats`` calls after a warm-up, the systems taking turns.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from tf_mlm.collator import MLMCollator

REFERENCE = {
    "rows": 256,
    "min_len": 128,
    "max_len": 512,
    "vocab_size": 30522,
    "selection_rate": 0.15,
    "max_selections": 76,
    "unselectable_ids": (0, 101, 102),
    "mask_token": 103,
    "pad_token": 0,
    "seed": 0,
}


def reference_examples(ref=None):
    """The reference batch as a list of int64 arrays ([CLS] ... [SEP])."""
    ref = dict(REFERENCE, **(ref or {}))
    rng = np.random.default_rng(ref["seed"])
    lengths = rng.integers(ref["min_len"], ref["max_len"] + 1, size=ref["rows"])
    examples = []
    for n in lengths:
        ids = rng.integers(1000, ref["vocab_size"], size=n, dtype=np.int64)
        ids[0], ids[-1] = 101, 102
        examples.append(ids)
    return examples


class HFStyleCollator:
    """DataCollatorForLanguageModeling's NumPy algorithm (see module doc)."""

    def __init__(
        self,
        *,
        vocab_size,
        mask_token,
        pad_token,
        special_ids,
        mlm_probability=0.15,
        vectorized_special_mask=False,
        seed=0,
    ):
        self.vocab_size = vocab_size
        self.mask_token = mask_token
        self.pad_token = pad_token
        self.special_ids = list(special_ids)
        self.mlm_probability = mlm_probability
        self.vectorized_special_mask = vectorized_special_mask
        self.rng = np.random.default_rng(seed)

    def _pad(self, examples):
        longest = max(e.shape[0] for e in examples)
        out = np.full((len(examples), longest), self.pad_token, dtype=examples[0].dtype)
        for i, e in enumerate(examples):
            out[i, : e.shape[0]] = e
        return out

    def _special_tokens_mask(self, ids):
        if self.vectorized_special_mask:
            return np.isin(ids, self.special_ids)
        special = self.special_ids
        return np.array(
            [[1 if t in special else 0 for t in row] for row in ids.tolist()], dtype=bool
        )

    def __call__(self, examples):
        inputs = self._pad(examples)
        labels = inputs.copy()
        probability = np.full(labels.shape, self.mlm_probability)
        probability[self._special_tokens_mask(labels)] = 0.0
        masked = self.rng.binomial(1, probability).astype(bool)
        labels[~masked] = -100
        replaced = self.rng.binomial(1, 0.8, size=labels.shape).astype(bool) & masked
        inputs[replaced] = self.mask_token
        randomized = self.rng.binomial(1, 0.5, size=labels.shape).astype(bool) & masked & ~replaced
        inputs[randomized] = self.rng.integers(
            0, self.vocab_size, size=int(randomized.sum()), dtype=inputs.dtype
        )
        return {"input_ids": inputs, "labels": labels}


def median_ms(systems: dict, examples, repeats: int) -> dict:
    """Median ms per call of each system. The systems take turns within each
    repeat, so that load from other processes weighs on all of them alike."""
    for collate in systems.values():
        collate(examples)  # warm-up
    times = {name: [] for name in systems}
    for _ in range(repeats):
        for name, collate in systems.items():
            start = time.perf_counter()
            collate(examples)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def run(repeats: int = 20, ref=None) -> dict:
    """Times the collators on the reference batch (``ref`` overrides its
    fields). Returns ``{"ms": {name: median ms}, "ratio": {name: x}}`` where
    ``ratio[name]`` is how many times faster tf_mlm is than ``name``."""
    ref = dict(REFERENCE, **(ref or {}))
    examples = reference_examples(ref)
    special = ref["unselectable_ids"]
    systems = {
        "tf_mlm": MLMCollator(
            vocab_size=ref["vocab_size"],
            mask_token=ref["mask_token"],
            pad_token=ref["pad_token"],
            unselectable_ids=special,
            selection_rate=ref["selection_rate"],
            max_selections=ref["max_selections"],
            seed=0,
        ),
        "tf_mlm_bernoulli": MLMCollator(
            vocab_size=ref["vocab_size"],
            mask_token=ref["mask_token"],
            pad_token=ref["pad_token"],
            unselectable_ids=special,
            selection_rate=ref["selection_rate"],
            max_selections=ref["max_selections"],
            selection_mode="bernoulli",
            seed=0,
        ),
    }
    for name, vectorized in (("hf", False), ("hf_vectorized", True)):
        systems[name] = HFStyleCollator(
            vocab_size=ref["vocab_size"],
            mask_token=ref["mask_token"],
            pad_token=ref["pad_token"],
            special_ids=special,
            mlm_probability=ref["selection_rate"],
            vectorized_special_mask=vectorized,
        )
    ms = median_ms(systems, examples, repeats)
    ratio = {name: ms[name] / ms["tf_mlm"] for name in ms if name != "tf_mlm"}
    return result_record(ms, ratio, examples, repeats)


def result_record(ms: dict, ratio: dict, examples, repeats: int, **extra) -> dict:
    """A comparison's result: times, ratios, the batch's size, the machine's load."""
    return {
        "ms": ms,
        "ratio": ratio,
        "tokens": int(sum(e.shape[0] for e in examples)),
        "repeats": repeats,
        **extra,
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }


def repeats_arg(argv, doc: str) -> int:
    """The ``--repeats`` option of a comparison's command line."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    return parser.parse_args(argv).repeats


def main(argv=None):
    result = run(repeats=repeats_arg(argv, __doc__))
    print(
        f"reference batch: {REFERENCE['rows']} rows, {result['tokens']} tokens, median of "
        f"{result['repeats']} calls (load average {result['load_average']:.1f} on "
        f"{result['cpus']} CPUs)"
    )
    for name, value in result["ms"].items():
        line = f"  {name:18s} {value:8.3f} ms"
        if name != "tf_mlm":
            line += f"   tf_mlm is {result['ratio'][name]:.1f}x faster"
        print(line)
    print(f"ratio vs HuggingFace-style collator: {result['ratio']['hf']:.1f}x")


if __name__ == "__main__":
    main()
