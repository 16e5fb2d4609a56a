"""Ratios, the printed table, the JSON and the Markdown summary."""

from __future__ import annotations

import json
import math
import os
from typing import Iterable, List, Optional

from benchmarks import masking, memory

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


def _peer_line(key: str, ext: dict) -> str:
    """One line per external benchmark: each system's median ms and how many
    times slower than tf_mlm each peer is (its `ratio`). tf_mlm.hf's result
    holds one such comparison per case (input kind, return type)."""
    what = ext.get("what", key)
    if ext.get("skipped"):
        return f"{what}: skipped ({ext['skipped']})"
    result = ext.get("result") or {}
    ms, ratio = result.get("ms") or {}, result.get("ratio") or {}
    if ms and all(isinstance(v, dict) for v in ms.values()):  # per case
        cases = [
            f"{case}: "
            + ", ".join(f"{system} {_fmt(t, '.2f')} ms" for system, t in times.items())
            + (f" ({ratio[case]:.1f}x)" if ratio.get(case) else "")
            for case, times in ms.items()
        ]
        return f"{what}: " + "; ".join(cases)
    systems = [
        f"{system} {_fmt(t, '.2f')} ms"
        + (f" ({ratio[system]:.1f}x tf_mlm's time)" if ratio.get(system) else "")
        for system, t in ms.items()
    ]
    return f"{what}: " + ", ".join(systems)


def _external_lines(results) -> List[str]:
    return [_peer_line(key, ext) for key, ext in (results.get("external") or {}).items()]


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
    ext = _external_lines(results)
    if ext:
        parts += ["Other peers (median ms per batch):\n" + "\n".join(f"  {line}" for line in ext)]
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
        parts += ["## Other peers (median ms per batch)", "\n".join(f"- {line}" for line in ext)]
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
