"""What ``tf-mlm inspect`` computes and shows of output records: each
masked position's kind (mask token, random, kept), the checks of a record,
the expected number of masked tokens, the summary statistics and their
text, and a record rendered as tokens. Records are dicts of NumPy arrays as
:func:`tf_mlm.pretraining.inspect.read_records` yields them.
"""

from __future__ import annotations

import collections
from typing import Dict, List, Optional

import numpy as np

_ANSI = {"mask": "\033[1;33m", "random": "\033[1;31m", "keep": "\033[1;32m", "end": "\033[0m"}


def classify(record: Dict[str, np.ndarray], mask_token: Optional[int]) -> List[str]:
    """For each masked position: ``"mask"`` (shows the mask token),
    ``"keep"`` (shows its original id; includes random draws that hit the
    original) or ``"random"``.

    >>> rec = {"input_ids": np.array([1, 9, 5, 7]), "masked_lm_positions": np.array([1, 2, 3]),
    ...        "masked_lm_ids": np.array([4, 5, 6])}
    >>> classify(rec, mask_token=9)
    ['mask', 'keep', 'random']
    """
    shown = record["input_ids"][record["masked_lm_positions"]]
    out = []
    for s, orig in zip(shown.tolist(), record["masked_lm_ids"].tolist()):
        out.append(
            "mask"
            if mask_token is not None and s == mask_token and orig != mask_token
            else "keep"
            if s == orig
            else "random"
        )
    return out


def original_ids(record: Dict[str, np.ndarray]) -> np.ndarray:
    """The input sequence before masking."""
    ids = record["input_ids"].copy()
    ids[record["masked_lm_positions"]] = record["masked_lm_ids"]
    return ids


def check_record(record: Dict[str, np.ndarray]) -> Optional[str]:
    """A description of what is inconsistent in a record, or None."""
    pos, n = record["masked_lm_positions"], len(record["input_ids"])
    if len(pos) != len(record["masked_lm_ids"]):
        return "positions and ids differ in length"
    if len(pos) and (pos.min() < 0 or pos.max() >= n):
        return "a masked position lies outside the sequence"
    if len(pos) > 1 and (np.diff(pos) <= 0).any():
        return "masked positions are not strictly ascending"
    return None


def expected_masked(record: Dict[str, np.ndarray], masking: Dict) -> Optional[float]:
    """The number of masked tokens that ``masking`` (the ``masking`` object
    of ``metadata.json``) gives ``record`` on average, or None where it
    depends on more than the record (whole words, spans). The exact mode
    masks ``ceil(rate * selectable)`` tokens per sequence, computed in
    float32 as the kernels do, so short sequences get more than ``rate``.

    >>> rec = {"input_ids": np.array([101, 5, 6, 7, 102]),
    ...        "masked_lm_positions": np.array([2]), "masked_lm_ids": np.array([6])}
    >>> masking = {"selection_mode": "exact", "selection_rate": 0.15,
    ...            "unselectable_ids": [101, 102], "max_predictions_per_seq": 20}
    >>> expected_masked(rec, masking)  # ceil(3 * 0.15) = 1 of 5 tokens
    1.0
    """
    law = _ExpectedCount.of(masking)
    return None if law is None else law(record)


class _ExpectedCount:
    """:func:`expected_masked` for one ``masking`` object, its parameters
    read once (``summarize`` calls it for every record)."""

    @classmethod
    def of(cls, masking: Optional[Dict]) -> Optional["_ExpectedCount"]:
        if not masking or masking.get("whole_word") or masking.get("span"):
            return None
        return cls(masking)

    def __init__(self, masking: Dict):
        self.unselectable = [int(i) for i in masking.get("unselectable_ids") or []]
        caps = [c for c in (masking.get("max_selections"), masking.get("max_predictions_per_seq"))]
        self.cap = min([c for c in caps if c] or [np.inf])
        self.rate = np.float32(masking.get("selection_rate", 0.0))
        self.bernoulli = masking.get("selection_mode") == "bernoulli"

    def __call__(self, record: Dict[str, np.ndarray]) -> float:
        ids = original_ids(record)
        selectable = len(ids) - sum(int(np.count_nonzero(ids == u)) for u in self.unselectable)
        if self.bernoulli:
            want = float(selectable * self.rate)
        else:
            want = float(np.ceil(np.float32(selectable) * self.rate))
        return float(min(want, self.cap, selectable))


def summarize(
    records,
    mask_token: Optional[int] = None,
    max_seq_length: Optional[int] = None,
    bins: int = 8,
    masking: Optional[Dict] = None,
) -> Dict:
    """Summary statistics of output records (see :func:`read_records`).

    >>> rec = {"input_ids": np.array([1, 9, 5, 7]), "masked_lm_positions": np.array([1, 3]),
    ...        "masked_lm_ids": np.array([4, 7])}
    >>> s = summarize([rec], mask_token=9)
    >>> s["records"], s["tokens"], s["masked"], s["split"]
    (1, 4, 2, {'mask': 1, 'random': 0, 'keep': 1})
    """
    lengths: List[int] = []
    npred: List[int] = []
    split = collections.Counter({"mask": 0, "random": 0, "keep": 0})
    problems: List[str] = []
    law = _ExpectedCount.of(masking)
    expected: Optional[float] = 0.0 if law is not None else None
    for i, rec in enumerate(records):
        lengths.append(len(rec["input_ids"]))
        npred.append(len(rec["masked_lm_positions"]))
        problem = check_record(rec)
        if problem:
            if len(problems) < 5:
                problems.append(f"record {i}: {problem}")
            continue
        split.update(classify(rec, mask_token))
        if law is not None:
            expected += law(rec)
    tokens, masked = int(sum(lengths)), int(sum(npred))
    top = max_seq_length or (max(lengths) if lengths else 1)
    edges = np.unique(np.linspace(0, top, bins + 1).round().astype(int))
    hist, _ = np.histogram(lengths, bins=edges) if lengths else (np.zeros(len(edges) - 1), None)
    return {
        "records": len(lengths),
        "tokens": tokens,
        "masked": masked,
        "masked_fraction": masked / tokens if tokens else 0.0,
        "expected_masked_fraction": (
            expected / tokens if expected is not None and tokens else None
        ),
        "split": dict(split)
        if mask_token is not None
        else {"keep": split["keep"], "changed": split["mask"] + split["random"]},
        "predictions_per_record": {
            "mean": float(np.mean(npred)) if npred else 0.0,
            "max": int(max(npred)) if npred else 0,
        },
        "length": {
            "min": int(min(lengths)) if lengths else 0,
            "max": int(max(lengths)) if lengths else 0,
            "mean": float(np.mean(lengths)) if lengths else 0.0,
            "histogram": [
                [int(edges[k]) + 1, int(edges[k + 1]), int(hist[k])] for k in range(len(hist))
            ],
        },
        "problems": problems,
    }


def render_record(
    record: Dict[str, np.ndarray], vocab=None, mask_token: Optional[int] = None, color: bool = False
) -> str:
    """The masked sequence as text: tokens (or ids), each masked one shown
    as ``<shown=original>`` (``<original>`` when kept), in colour when
    ``color`` (yellow: mask token, red: random, green: kept).

    >>> rec = {"input_ids": np.array([1, 9, 5, 7]), "masked_lm_positions": np.array([1, 3]),
    ...        "masked_lm_ids": np.array([4, 7])}
    >>> render_record(rec, mask_token=9)
    '1 <9=4> 5 <7>'
    """
    name = (lambda i: vocab.token(int(i))) if vocab is not None else str
    kinds = dict(zip(record["masked_lm_positions"].tolist(), classify(record, mask_token)))
    originals = dict(zip(record["masked_lm_positions"].tolist(), record["masked_lm_ids"].tolist()))
    out = []
    for pos, i in enumerate(record["input_ids"].tolist()):
        if pos not in kinds:
            out.append(name(i))
            continue
        text = f"<{name(i)}>" if kinds[pos] == "keep" else f"<{name(i)}={name(originals[pos])}>"
        out.append(f"{_ANSI[kinds[pos]]}{text}{_ANSI['end']}" if color else text)
    return " ".join(out)


def format_summary(stats: Dict, width: int = 40) -> str:
    """``summarize``'s statistics as the text of ``tf-mlm inspect``."""
    lines = [
        f"records: {stats['records']}, tokens: {stats['tokens']}, masked: "
        f"{stats['masked']} ({stats['masked_fraction']:.2%})"
    ]
    if stats.get("expected_masked_fraction") is not None:
        lines.append(
            f"expected masked share: {stats['expected_masked_fraction']:.2%} (each sequence "
            "masks its rate times its selectable tokens, rounded up, up to the cap; "
            "short sequences round up most)"
        )
    split = stats["split"]
    total = sum(split.values()) or 1
    if "mask" in split:
        lines.append(
            f"masked tokens: mask token {split['mask'] / total:.1%}, random "
            f"{split['random'] / total:.1%}, kept {split['keep'] / total:.1%} "
            "(random draws equal to the original count as kept)"
        )
    else:
        lines.append(
            f"masked tokens: changed {split['changed'] / total:.1%}, kept "
            f"{split['keep'] / total:.1%} (give --mask-token to split mask/random)"
        )
    p = stats["predictions_per_record"]
    lines.append(f"predictions per record: mean {p['mean']:.2f}, max {p['max']}")
    return "\n".join(lines + format_lengths(stats, width))


def format_lengths(stats: Dict, width: int = 40) -> List[str]:
    """The sequence-length lines of a summary (with its histogram), and its
    problems."""
    length = stats["length"]
    lines = [
        f"sequence length: min {length['min']}, mean {length['mean']:.1f}, max {length['max']}"
    ]
    peak = max((c for _, _, c in length["histogram"]), default=0) or 1
    for lo, hi, count in length["histogram"]:
        bar = "#" * int(round(width * count / peak))
        lines.append(f"  {lo:>6}-{hi:<6} {bar} {count}")
    if stats["problems"]:
        lines.append("PROBLEMS: " + "; ".join(stats["problems"]))
    return lines
