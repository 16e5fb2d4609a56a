"""The masking strategies of the README ("Masking strategies") on the reference batch:
tf_mlm's TF path (``tf.function``) and its NumPy core (``tf_mlm.numpy``),
each against the plain token masking of the same path, interleaved.

Strategies (tensorflow_text has none of them, so no peer ratio):

* whole words via ``group_words``: the token batch grouped into words on the
  fly from a continuation table (about 23% of the ids continue a word, so
  words average 1.3 wordpieces like ``reference.word_batch``), then masked
  with ``axis=1``; the grouping is part of the timed call;
* spans: ``SpanItemSelector`` (SpanBERT: p=0.2, at most 10 tokens) with the
  reference budget (rate 0.15, cap 76 tokens per row); on the TF path this
  runs the composed ops (selector, gather, chooser, scatter);
* excluded ids: random replacements never drawn from BERT's special ids
  ``[0, 100, 101, 102, 103]``;
* frequency-weighted replacement: random replacements drawn from a
  Zipf-like table over the vocabulary (alias tables built once, outside the
  timed call, as ``MaskValuesChooser`` and ``replacement_tables`` do).
"""

from __future__ import annotations

from typing import Callable, Dict, List

import numpy as np

from benchmarks import masking, reference, timing

NUMPY = "tf_mlm.numpy"
BASELINE = "tokens, uniform replacement (baseline)"
WHOLE_WORD = "whole words via group_words"
SPANS = "SpanBERT spans (p=0.2, max 10)"
EXCLUDED = "excluded ids [0, 100-103]"
FREQUENCIES = "frequency-weighted replacement (Zipf table)"
STRATEGIES = (BASELINE, WHOLE_WORD, SPANS, EXCLUDED, FREQUENCIES)
EXCLUDED_IDS = (0, 100, 101, 102, 103)
CONTINUE_FRACTION = 0.23


def continuation_table(ref: reference.Reference) -> np.ndarray:
    """A fixed table: about 23% of the plain ids continue a word."""
    rng = np.random.default_rng(ref.seed + 3)
    table = rng.random(ref.vocab_size) < CONTINUE_FRACTION
    table[: reference.FIRST_PLAIN_ID] = False  # special ids stand alone
    return table


def zipf_frequencies(ref: reference.Reference) -> np.ndarray:
    """Zipf-like counts (rank^-1) over a fixed random order of the ids."""
    order = np.random.default_rng(ref.seed + 4).permutation(ref.vocab_size)
    weights = np.empty(ref.vocab_size, np.float32)
    weights[order] = 1.0 / np.arange(1, ref.vocab_size + 1, dtype=np.float32)
    return weights


def mode(strategy: str, path: str) -> str:
    return f"strategy: {strategy} ({path})"


def tf_fns(ref: reference.Reference) -> Dict[str, Callable]:
    """strategy -> zero-argument callable masking the reference batch with a
    traced `tf.function` of tf_mlm's public API (stateful seeds)."""
    import tf_mlm

    rt = reference.token_batch(ref)
    table = continuation_table(ref)
    unselectable = list(ref.unselectable_ids)
    tokens = tf_mlm.RandomItemSelector(ref.max_selections_per_row, ref.selection_rate, unselectable)
    spans = tf_mlm.SpanItemSelector(ref.max_selections_per_row, ref.selection_rate, unselectable)
    uniform = tf_mlm.MaskValuesChooser(ref.vocab_size, ref.mask_token)
    excluded = tf_mlm.MaskValuesChooser(
        ref.vocab_size, ref.mask_token, excluded_ids=list(EXCLUDED_IDS)
    )
    weighted = tf_mlm.MaskValuesChooser(
        ref.vocab_size, ref.mask_token, replacement_frequencies=zipf_frequencies(ref)
    )
    bodies = {
        BASELINE: lambda ids: tf_mlm.mask_language_model(ids, tokens, uniform),
        WHOLE_WORD: lambda ids: tf_mlm.mask_language_model(
            tf_mlm.group_words(ids, table), tokens, uniform, axis=1
        ),
        SPANS: lambda ids: tf_mlm.mask_language_model(ids, spans, uniform),
        EXCLUDED: lambda ids: tf_mlm.mask_language_model(ids, tokens, excluded),
        FREQUENCIES: lambda ids: tf_mlm.mask_language_model(ids, tokens, weighted),
    }
    out = {}
    for name, body in bodies.items():
        compiled = masking.traced_once(body, rt)
        out[name] = (lambda f: lambda: f(rt))(compiled)
    return out


def numpy_fns(ref: reference.Reference) -> Dict[str, Callable]:
    """strategy -> zero-argument callable masking the reference batch with
    `tf_mlm.numpy` (fresh OS-entropy seeds, like the collator)."""
    from tf_mlm import numpy as mlm

    values, splits = reference.token_arrays(ref)
    table = continuation_table(ref)
    common = dict(
        vocab_size=ref.vocab_size,
        mask_token=ref.mask_token,
        selection_rate=ref.selection_rate,
        max_selections=ref.max_selections_per_row,
        unselectable_ids=np.array(ref.unselectable_ids, np.int64),
    )
    excluded = mlm.replacement_tables(ref.vocab_size, excluded_ids=list(EXCLUDED_IDS))
    weighted = mlm.replacement_tables(ref.vocab_size, replacement_frequencies=zipf_frequencies(ref))
    return {
        BASELINE: lambda: mlm.mask_ragged(values, splits, **common),
        WHOLE_WORD: lambda: mlm.mask_ragged(
            values, mlm.group_words(values, splits, table), axis=1, **common
        ),
        SPANS: lambda: mlm.mask_spans(values, splits, **common),
        EXCLUDED: lambda: mlm.mask_ragged(values, splits, replacement=excluded, **common),
        FREQUENCIES: lambda: mlm.mask_ragged(values, splits, replacement=weighted, **common),
    }


def bench_strategies(systems, ref: reference.Reference, repeats: int) -> List[dict]:
    """One row per strategy and path, all candidates interleaved."""
    fns = {}
    if systems.get("tf_mlm") is not None:
        fns.update({("tf_mlm", mode(s, "tf.function")): f for s, f in tf_fns(ref).items()})
    fns.update({(NUMPY, mode(s, "NumPy core")): f for s, f in numpy_fns(ref).items()})
    keyed = {f"{system}|{m}": f for (system, m), f in fns.items()}
    times = timing.interleaved(keyed, repeats)
    tokens = int(reference.row_lengths(ref).sum())
    rows = []
    for system, m in fns:
        row = masking._row(system, m, times[f"{system}|{m}"], tokens)
        rows.append(row)
    base = {r["system"]: r["ms"] for r in rows if BASELINE in r["mode"]}
    for r in rows:
        r["vs_baseline"] = r["ms"] / base[r["system"]] if base.get(r["system"]) else None
    return rows
