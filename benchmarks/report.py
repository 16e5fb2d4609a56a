"""Ratios, targets, the printed table, the JSON and the Markdown summary."""

from __future__ import annotations

import json
import math
import os
from typing import Iterable, List, Optional

from benchmarks import masking, memory
from benchmarks import scaling as scaling_mod

PEER = "tensorflow_text"
OURS = "tf_mlm"


def _floor_ms(rows) -> Optional[float]:
    for r in rows:
        if r["system"] == "floor":
            return r["ms"]
    return None


def add_ratios(rows: List[dict]) -> List[dict]:
    """Adds `mtok_s`, `vs_peer` (peer ms / this ms: the speed-up of tf_mlm
    over tensorflow_text in the same mode) and `vs_floor` (this ms / floor ms)."""
    floor = _floor_ms(rows)
    peer_ms = {r["mode"]: r["ms"] for r in rows if r["system"] == PEER}
    peer_ms[masking.FUSED_OP] = peer_ms.get("tf.function")
    for r in rows:
        r["mtok_s"] = r["tokens"] / (r["ms"] * 1e-3) / 1e6 if r.get("ms") else None
        peer = peer_ms.get(r["mode"]) if r["system"] not in (PEER, "floor") else None
        r["vs_peer"] = peer / r["ms"] if peer and r.get("ms") else None
        r["vs_floor"] = r["ms"] / floor if floor and r.get("ms") else None
    return rows


def _find(rows, system, mode) -> Optional[dict]:
    return next((r for r in rows if r["system"] == system and r["mode"] == mode), None)


def _target(issue, what, measured, ok, goal, unit="") -> dict:
    return {
        "issue": issue,
        "target": what,
        "goal": goal,
        "measured": None if measured is None else round(float(measured), 3),
        "unit": unit,
        "status": "n/a"
        if measured is None or (isinstance(measured, float) and math.isnan(measured))
        else ("PASS" if ok(measured) else "MISS"),
    }


def targets(results: dict) -> List[dict]:
    rows = results.get("rows", [])

    def speedup(mode):
        r = _find(rows, OURS, mode)
        return r["vs_peer"] if r else None

    fused = _find(rows, OURS, masking.FUSED_OP)
    tfdata = _find(rows, OURS, "tf.data (AUTOTUNE map, prefetch)")
    out = [
        _target(
            2,
            "tf.function speed-up vs tensorflow_text",
            speedup("tf.function"),
            lambda v: v >= 20,
            ">= 20",
            "x",
        ),
        _target(
            2,
            "eager speed-up vs tensorflow_text",
            speedup("eager"),
            lambda v: v >= 200,
            ">= 200",
            "x",
        ),
        _target(
            7,
            "tf.function speed-up vs tensorflow_text",
            speedup("tf.function"),
            lambda v: v >= 50,
            ">= 50",
            "x",
        ),
        _target(
            7,
            "whole-word tf.function speed-up",
            speedup("whole-word tf.function"),
            lambda v: v >= 40,
            ">= 40",
            "x",
        ),
        _target(
            2,
            "tf.function speed-up, in graph (16 batches per call)",
            speedup(masking.IN_GRAPH),
            lambda v: v >= 20,
            ">= 20",
            "x",
        ),
        _target(
            7,
            "tf.function speed-up, in graph (16 batches per call)",
            speedup(masking.IN_GRAPH),
            lambda v: v >= 50,
            ">= 50",
            "x",
        ),
        _target(
            7,
            "whole-word tf.function speed-up, in graph",
            speedup(masking.WHOLE_WORD_IN_GRAPH),
            lambda v: v >= 40,
            ">= 40",
            "x",
        ),
        _target(
            7,
            "eager speed-up vs tensorflow_text",
            speedup("eager"),
            lambda v: v >= 500,
            ">= 500",
            "x",
        ),
        _target(
            7,
            "fused kernel time / single-op floor",
            fused["vs_floor"] if fused else None,
            lambda v: v <= 2,
            "<= 2",
            "x",
        ),
        _target(
            7,
            "tf.data pipeline throughput",
            tfdata["mtok_s"] if tfdata else None,
            lambda v: v >= 100,
            ">= 100",
            "M tokens/s",
        ),
    ]
    scaling = results.get("scaling") or {}
    for system, how in ((OURS, "per call"), (scaling_mod.IN_GRAPH_SYSTEM, "in graph")):
        for sweep in ("batch_size", "sequence_length"):
            fit = (scaling.get(sweep) or {}).get("fit", {}).get(system)
            for key, label in (("slope", "all points"), ("slope_upper_half", "larger half")):
                out.append(
                    _target(
                        7,
                        f"log-log slope vs tokens, {how}, {sweep} sweep ({label})",
                        fit[key] if fit else None,
                        lambda v: 0.9 <= v <= 1.1,
                        "0.9-1.1",
                    )
                )
    mem = next(
        (
            m
            for m in results.get("memory") or []
            if m.get("system") == OURS
            and "error" not in m
            and m.get("rows") == results.get("reference", {}).get("rows")
        ),
        None,
    )
    out.append(
        _target(
            7,
            "peak memory / output size (TF allocator, reference batch)",
            memory.ratio(mem, "tf_allocator") if mem else None,
            lambda v: v <= 3,
            "<= 3",
            "x",
        )
    )
    return out


def _fmt(v, spec) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


TABLE_COLUMNS = (
    "system",
    "mode",
    "ms/batch (median)",
    "M tokens/s",
    "x faster than peer",
    "x floor",
    "x baseline",
)


def table_rows(rows: Iterable[dict]) -> List[List[str]]:
    """`x baseline`: strategy rows only, time over the plain token masking of
    the same path (benchmarks/strategies.py)."""
    return [
        [
            r["system"],
            r["mode"],
            _fmt(r.get("ms"), ".3f"),
            _fmt(r.get("mtok_s"), ".1f"),
            _fmt(r.get("vs_peer"), ".1f"),
            _fmt(r.get("vs_floor"), ".1f"),
            _fmt(r.get("vs_baseline"), ".2f"),
        ]
        for r in rows
    ]


def text_table(header, body) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]

    def line(cells):
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(b) for b in body])


def markdown_table(header, body) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in b) + " |" for b in body]
    return "\n".join(out)


def _target_body(ts):
    return [
        [
            f"#{t['issue']}",
            t["target"],
            t["goal"],
            "-" if t["measured"] is None else f"{t['measured']:g}",
            t["status"],
        ]
        for t in ts
    ]


TARGET_COLUMNS = ("issue", "target", "goal", "measured", "")


def _scaling_body(scaling):
    body = []
    for sweep, data in (scaling or {}).items():
        for system, fit in sorted(data["fit"].items()):
            body.append(
                [
                    sweep,
                    system,
                    _fmt(fit["slope"], ".3f"),
                    _fmt(fit["slope_upper_half"], ".3f"),
                    _fmt(fit["fixed_ms"], ".3f"),
                    _fmt(fit["ns_per_token"], ".2f"),
                ]
            )
    return body


SCALING_COLUMNS = (
    "sweep",
    "system",
    "slope (all)",
    "slope (larger half)",
    "fixed ms/call",
    "ns/token",
)


def _memory_body(mem):
    body = []
    for m in mem or []:
        if "error" in m:
            body.append(
                [m.get("system", "?"), str(m.get("rows", "?")), "-", "-", "-", "-", m["error"][:60]]
            )
            continue
        alloc, rss = m.get("tf_allocator", {}), m.get("rss", {})
        body.append(
            [
                m["system"],
                str(m["rows"]),
                f"{m['output_bytes'] / 1e6:.2f}",
                _fmt(alloc.get("peak_bytes", float("nan")) / 1e6, ".2f"),
                _fmt(memory.ratio(m, "tf_allocator"), ".2f"),
                _fmt(rss.get("peak_bytes_median", float("nan")) / 1e6, ".2f"),
                _fmt(memory.ratio(m, "rss"), ".2f"),
            ]
        )
    return body


MEMORY_COLUMNS = (
    "system",
    "rows",
    "output MB",
    "TF-allocator peak MB",
    "x output",
    "RSS high-water MB",
    "x output",
)


def _external_lines(results) -> List[str]:
    lines = []
    for key, ext in (results.get("external") or {}).items():
        if ext.get("skipped"):
            lines.append(f"{key}: skipped ({ext['skipped']})")
        else:
            lines.append(f"{key}: " + json.dumps(ext.get("result"), default=str)[:2000])
    return lines


def render_text(results: dict) -> str:
    parts = [
        f"Reference batch: {results['reference_description']}",
        text_table(TABLE_COLUMNS, table_rows(results.get("rows", []))),
    ]
    if results.get("scaling"):
        parts += [
            "Scaling (tf.function):",
            text_table(SCALING_COLUMNS, _scaling_body(results["scaling"])),
        ]
    if results.get("memory"):
        parts += [
            "Peak memory of one eager call:",
            text_table(MEMORY_COLUMNS, _memory_body(results["memory"])),
        ]
    parts += _external_lines(results)
    parts += ["Targets:", text_table(TARGET_COLUMNS, _target_body(results.get("targets", [])))]
    parts += results.get("notes", [])
    return "\n\n".join(parts)


def render_markdown(results: dict) -> str:
    m = results.get("machine", {})
    parts = [
        "# tf_mlm benchmark results",
        f"Command: `{results.get('command', 'python -m benchmarks')}`  ",
        f"Machine: {m.get('cpu', '?')}, {m.get('nproc', '?')} cores, "
        f"{m.get('memory_gb', '?')} GB RAM; TensorFlow {m.get('tensorflow', '?')}, "
        f"tensorflow-text {m.get('tensorflow_text', '-')}; Python {m.get('python', '?')}  ",
        f"Reference batch: {results['reference_description']}",
        markdown_table(TABLE_COLUMNS, table_rows(results.get("rows", []))),
    ]
    if results.get("scaling"):
        parts += [
            "## Scaling (tf.function)",
            markdown_table(SCALING_COLUMNS, _scaling_body(results["scaling"])),
        ]
    if results.get("memory"):
        parts += [
            "## Peak memory of one eager call",
            markdown_table(MEMORY_COLUMNS, _memory_body(results["memory"])),
        ]
    ext = _external_lines(results)
    if ext:
        parts += ["## Other peers"] + [f"- {line}" for line in ext]
    parts += [
        "## Targets",
        markdown_table(TARGET_COLUMNS, _target_body(results.get("targets", []))),
    ]
    parts += [f"- {n}" for n in results.get("notes", [])]
    return "\n\n".join(parts) + "\n"


def write_json(results: dict, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_finite(results), f, indent=1, default=_jsonable, allow_nan=False)
        f.write("\n")


def _finite(v):
    """NaN and infinities become null (strict JSON)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def _jsonable(v):
    if hasattr(v, "item"):
        return v.item()
    return str(v)
