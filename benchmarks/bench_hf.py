"""tf_mlm.hf.DataCollatorForLanguageModeling vs transformers' own, in one run.

Both collators get the same tokenizer (a BERT WordPiece tokenizer built from
a generated 30522-token vocabulary file with BERT's special ids, no network)
and the reference batch of :mod:`benchmarks.bench_collator` (256 rows of 128
to 512 ids), with transformers' defaults (``mlm_probability=0.15``, 80/10/10,
``seed=0``), in two forms:

* ``arrays``: a list of int64 id arrays (collated without the tokenizer);
* ``dicts``: a list of ``{"input_ids": list}`` (padded by ``tokenizer.pad``,
  as datasets deliver them; both collators pay for that padding);
* ``dicts+label``: the same with a ``next_sentence_label`` int per example
  (a key the tokenizer does not pad, batched beside the ids).

and for ``return_tensors`` "np" and, where torch is installed, "pt".

Run: ``python -m benchmarks.bench_hf [--repeats N]``. Timings are the median
of ``repeats`` calls after a warm-up, the two collators taking turns.
"""

from __future__ import annotations

import os
import tempfile

from benchmarks.bench_collator import (
    REFERENCE,
    median_ms,
    reference_examples,
    repeats_arg,
    result_record,
)

SPECIAL = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}


def bert_tokenizer(vocab_size: int, directory: str):
    """A fast BERT tokenizer over ``vocab_size`` made-up tokens, BERT's special ids."""
    from transformers import BertTokenizerFast

    path = os.path.join(directory, "vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(SPECIAL.get(i, f"tok{i}") + "\n" for i in range(vocab_size)))
    return BertTokenizerFast(path)


def run(repeats: int = 20, ref=None) -> dict:
    """``{"ms": {case: {system: ms}}, "ratio": {case: x}}``, ``x`` being how
    many times faster tf_mlm.hf is than transformers on that case."""
    import transformers

    from tf_mlm.hf import DataCollatorForLanguageModeling

    ref = dict(REFERENCE, **(ref or {}))
    arrays = reference_examples(ref)
    dicts = [{"input_ids": a.tolist()} for a in arrays]
    forms = {
        "arrays": arrays,
        "dicts": dicts,
        "dicts+label": [dict(d, next_sentence_label=i % 2) for i, d in enumerate(dicts)],
    }
    tensor_types = ["np"]
    try:
        import torch  # noqa: F401

        tensor_types.append("pt")
    except ImportError:
        pass
    ms, ratio = {}, {}
    with tempfile.TemporaryDirectory() as directory:
        tokenizer = bert_tokenizer(ref["vocab_size"], directory)
        for rt in tensor_types:
            systems = {
                "tf_mlm": DataCollatorForLanguageModeling(tokenizer, return_tensors=rt, seed=0),
                "transformers": transformers.DataCollatorForLanguageModeling(
                    tokenizer, return_tensors=rt, seed=0
                ),
            }
            for form, examples in forms.items():
                case = f"{rt}/{form}"
                ms[case] = median_ms(systems, examples, repeats)
                ratio[case] = ms[case]["transformers"] / ms[case]["tf_mlm"]
    return result_record(ms, ratio, arrays, repeats, transformers=transformers.__version__)


def main(argv=None):
    result = run(repeats=repeats_arg(argv, __doc__))
    print(
        f"reference batch: {REFERENCE['rows']} rows, {result['tokens']} tokens; transformers "
        f"{result['transformers']}; median of {result['repeats']} calls (load average "
        f"{result['load_average']:.1f} on {result['cpus']} CPUs)"
    )
    for case, times in result["ms"].items():
        print(
            f"  {case:14s} tf_mlm {times['tf_mlm']:8.2f} ms   transformers "
            f"{times['transformers']:8.2f} ms   tf_mlm is {result['ratio'][case]:.1f}x faster"
        )


if __name__ == "__main__":
    main()
