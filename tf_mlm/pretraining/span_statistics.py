"""What ``tf-mlm inspect`` computes and shows of span-corruption output
(``tf-mlm mask --objective span-corruption``): each record decoded back
into its source sequence and noise spans, the checks of a record against
the run's options, the summary statistics and their text, and a record
rendered as tokens. Records are dicts of NumPy arrays ``inputs`` and
``targets`` as :func:`tf_mlm.pretraining.inspect.read_records` yields them.

A record's sentinels count down from ``first_sentinel``: in ``inputs`` the
k-th noise span is replaced by ``first_sentinel - k``, in ``targets`` the
k-th non-noise span is; so the source sequence is the inputs with each
sentinel replaced by the noise tokens that follow the same sentinel in the
targets. Decoding takes every id equal to the next expected sentinel for
that sentinel: source sequences must not hold the sentinel ids (T5's extra
ids, at the top of the vocabulary).
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional

import numpy as np

from tf_mlm.pretraining.config import expected_noise
from tf_mlm.pretraining.statistics import format_lengths


class Spans(NamedTuple):
    """A span-corruption record decoded."""

    source: np.ndarray
    """The sequence before corruption."""
    noise_mask: np.ndarray
    """True at the source's noise tokens."""
    spans: int
    """The number of noise spans."""


def _groups(ids: np.ndarray, first_sentinel: int):
    """The ids between sentinels (the first group before the first
    sentinel), and the number of sentinels."""
    groups: List[List[int]] = [[]]
    for i in ids.tolist():
        if i == first_sentinel - (len(groups) - 1):
            groups.append([])
        else:
            groups[-1].append(i)
    return groups, len(groups) - 1


def decode(record: Dict[str, np.ndarray], first_sentinel: int) -> Optional[Spans]:
    """The source sequence and noise mask of a record, or None when its
    inputs and targets do not fit together.

    >>> rec = {"inputs": np.array([5, 99, 8, 98]), "targets": np.array([99, 6, 7, 98, 9])}
    >>> spans = decode(rec, 99)
    >>> spans.source.tolist(), spans.noise_mask.astype(int).tolist(), spans.spans
    ([5, 6, 7, 8, 9], [0, 1, 1, 0, 1], 2)
    """
    kept, noise_spans = _groups(record["inputs"], first_sentinel)
    noise, kept_spans = _groups(record["targets"], first_sentinel)
    # The inputs start with a sentinel, and the targets do not, when the
    # sequence starts with noise.
    starts_with_noise = noise_spans > 0 and not kept[0]
    if starts_with_noise != (kept_spans == 0 or bool(noise[0])):
        return None
    kept = [g for g in kept if g]
    noise = [g for g in noise if g]
    first, second = (noise_spans, kept_spans) if starts_with_noise else (kept_spans, noise_spans)
    if len(kept) != kept_spans or len(noise) != noise_spans or first - second not in (0, 1):
        return None
    order = [noise, kept] if starts_with_noise else [kept, noise]
    source: List[int] = []
    mask: List[bool] = []
    for k in range(max(kept_spans, noise_spans)):
        for which, spans in enumerate(order):
            if k < len(spans):
                source.extend(spans[k])
                mask.extend([(which == 0) == starts_with_noise] * len(spans[k]))
    return Spans(np.asarray(source, np.int64), np.asarray(mask, bool), noise_spans)


def check_record(record: Dict[str, np.ndarray], options: Optional[Dict]) -> Optional[str]:
    """A description of what is wrong with a record, or None: inputs and
    targets that do not decode, or (with ``options``, the
    ``span_corruption`` object of ``metadata.json``) other noise counts
    than the options give a sequence of that length."""
    if "inputs" not in record or "targets" not in record:
        return "not a span-corruption record (no inputs / targets)"
    first = first_sentinel_of(record, options)
    decoded = decode(record, first) if first is not None else None
    if decoded is None:
        return "inputs and targets do not decode into one sequence (sentinels out of order)"
    if options is None or options.get("noise_density") is None or len(decoded.source) < 2:
        return None
    noise, spans = expected_noise(
        len(decoded.source), options["noise_density"], options["mean_noise_span_length"]
    )
    got = int(decoded.noise_mask.sum()), decoded.spans
    if got != (noise, spans):
        return (
            f"{got[0]} noise tokens in {got[1]} spans; the options give {noise} in {spans} "
            f"for {len(decoded.source)} tokens"
        )
    return None


def first_sentinel_of(record: Dict[str, np.ndarray], options: Optional[Dict]) -> Optional[int]:
    """The id of the first sentinel: the options' (``metadata.json``), else
    the first id of the record's targets."""
    if options is not None and options.get("first_sentinel") is not None:
        return int(options["first_sentinel"])
    # Without metadata: the targets start with the first sentinel (the
    # first span of a sequence is not noise).
    return int(record["targets"][0]) if len(record["targets"]) else None


def summarize(records, options: Optional[Dict] = None, bins: int = 8) -> Dict:
    """Summary statistics of span-corruption records: their source, inputs
    and targets lengths, noise tokens and spans, and the records that fail
    :func:`check_record`.

    >>> rec = {"inputs": np.array([5, 99, 8, 98]), "targets": np.array([99, 6, 7, 98, 9])}
    >>> s = summarize([rec], {"first_sentinel": 99, "noise_density": 0.6,
    ...                       "mean_noise_span_length": 1.5})
    >>> s["records"], s["tokens"], s["noise"], s["spans_per_record"]["mean"], s["problems"]
    (1, 5, 3, 2.0, [])
    """
    sources: List[int] = []
    inputs: List[int] = []
    targets: List[int] = []
    noise: List[int] = []
    spans: List[int] = []
    problems: List[str] = []
    for i, rec in enumerate(records):
        if not (options or {}).get("first_sentinel") and rec.get("targets") is not None:
            # No metadata: the first record's first sentinel is every record's.
            options = dict(options or {}, first_sentinel=first_sentinel_of(rec, None))
        problem = check_record(rec, options)
        if problem:
            if len(problems) < 5:
                problems.append(f"record {i}: {problem}")
            if "inputs" not in rec or "targets" not in rec:
                continue
        inputs.append(len(rec["inputs"]))
        targets.append(len(rec["targets"]))
        decoded = decode(rec, first_sentinel_of(rec, options) or 0)
        if decoded is not None:
            sources.append(len(decoded.source))
            noise.append(int(decoded.noise_mask.sum()))
            spans.append(decoded.spans)
    tokens, noise_tokens = int(sum(sources)), int(sum(noise))
    top = (options or {}).get("max_seq_length") or (max(sources) if sources else 1)
    return {
        "objective": "span_corruption",
        "records": len(inputs),
        "tokens": tokens,
        "noise": noise_tokens,
        "noise_fraction": noise_tokens / tokens if tokens else 0.0,
        "noise_density": (options or {}).get("noise_density"),
        "spans_per_record": _stats(spans),
        "mean_span_length": noise_tokens / sum(spans) if sum(spans) else 0.0,
        "length": dict(_stats(sources), histogram=_histogram(sources, top, bins)),
        "inputs_length": _stats(inputs),
        "targets_length": _stats(targets),
        "problems": problems,
    }


def _stats(values: List[int]) -> Dict:
    return {
        "min": int(min(values)) if values else 0,
        "mean": float(np.mean(values)) if values else 0.0,
        "max": int(max(values)) if values else 0,
    }


def _histogram(values: List[int], top: int, bins: int) -> List[List[int]]:
    edges = np.unique(np.linspace(0, top, bins + 1).round().astype(int))
    hist, _ = np.histogram(values, bins=edges) if values else (np.zeros(len(edges) - 1), None)
    return [[int(edges[k]) + 1, int(edges[k + 1]), int(hist[k])] for k in range(len(hist))]


def format_summary(stats: Dict, width: int = 40) -> str:
    """:func:`summarize`'s statistics as the text of ``tf-mlm inspect``."""
    expected = (
        f"; density {stats['noise_density']}" if stats.get("noise_density") is not None else ""
    )
    spans = stats["spans_per_record"]
    lines = [
        f"records: {stats['records']}, tokens: {stats['tokens']}, noise: {stats['noise']} "
        f"({stats['noise_fraction']:.2%}{expected})",
        f"noise spans per record: mean {spans['mean']:.2f}, max {spans['max']}; mean span "
        f"length {stats['mean_span_length']:.2f}",
    ]
    for key, label in (("inputs_length", "inputs"), ("targets_length", "targets")):
        s = stats[key]
        lines.append(
            f"{label} length: min {s['min']}, mean {s['mean']:.1f}, max {s['max']} (no EOS)"
        )
    return "\n".join(lines + format_lengths(stats, width))


def render_record(record: Dict[str, np.ndarray], first_sentinel: int, vocab=None) -> str:
    """The source sequence as text, each noise span shown with its sentinel
    as ``<extra_id_K: tokens>``.

    >>> rec = {"inputs": np.array([5, 99, 8, 98]), "targets": np.array([99, 6, 7, 98, 9])}
    >>> render_record(rec, 99)
    '5 <extra_id_0: 6 7> 8 <extra_id_1: 9>'
    """
    name = (lambda i: vocab.token(i) if i < len(vocab) else str(i)) if vocab is not None else str
    decoded = decode(record, first_sentinel)
    if decoded is None:
        return "inputs: " + " ".join(name(int(i)) for i in record["inputs"])
    out: List[str] = []
    span = -1
    for k, (i, noisy) in enumerate(zip(decoded.source.tolist(), decoded.noise_mask.tolist())):
        if noisy and (k == 0 or not decoded.noise_mask[k - 1]):
            span += 1
            out.append(f"<extra_id_{span}: {name(i)}")
        else:
            out.append(name(i))
        if noisy and (k + 1 == len(decoded.source) or not decoded.noise_mask[k + 1]):
            out[-1] += ">"
    return " ".join(out)
