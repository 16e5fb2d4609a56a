"""PNG charts (matplotlib, Agg backend): throughput per system and mode,
and log-log time against total tokens for the two scaling sweeps."""

from __future__ import annotations

import os
from typing import List

COLORS = {
    "tf_mlm": "#1f77b4",
    "tf_mlm, in graph": "#17becf",
    "tf_mlm.numpy": "#2ca02c",
    "tensorflow_text": "#d62728",
    "floor": "#7f7f7f",
}
LEGEND = {
    "tf_mlm": "tf_mlm (TensorFlow)",
    "tf_mlm.numpy": "tf_mlm.numpy (NumPy core)",
    "tensorflow_text": "tensorflow_text",
    "floor": "floors (no masking)",
}


def _family(system: str) -> str:
    """The colour group of a row's system: the floors ("floor", "floor
    (ragged I/O)") share one."""
    return "floor" if system.startswith("floor") else system


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def throughput(rows: List[dict], path: str) -> str:
    plt = _plt()
    from matplotlib.patches import Patch

    rows = [r for r in rows if r.get("mtok_s")]
    fig, ax = plt.subplots(figsize=(11, 0.3 * len(rows) + 1.6), dpi=90)
    labels = [f"{r['system']} | {r['mode']}" for r in rows]
    values = [r["mtok_s"] for r in rows]
    families = [_family(r["system"]) for r in rows]
    bars = ax.barh(
        range(len(rows)), values, color=[COLORS.get(f, "#9467bd") for f in families], height=0.7
    )
    for bar, v in zip(bars, values):
        ax.text(v, bar.get_y() + bar.get_height() / 2, f" {v:,.1f}", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top, no empty band
    ax.set_xscale("log")
    ax.set_xlabel("M tokens/s (log scale; higher is better)")
    ax.set_title("Masking throughput on the reference batch", fontsize=10)
    ax.set_xlim(right=max(values) * 3)
    ax.grid(True, axis="x", which="major", alpha=0.3)
    seen = list(dict.fromkeys(families))
    ax.legend(
        handles=[Patch(color=COLORS.get(f, "#9467bd"), label=LEGEND.get(f, f)) for f in seen],
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),  # beside the bars, never over them
    )
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def scaling(sweep: dict, title: str, path: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=90)
    for system in sorted({p["system"] for p in sweep["points"]}):
        pts = sorted(
            (p for p in sweep["points"] if p["system"] == system), key=lambda p: p["tokens"]
        )
        fit = sweep["fit"].get(system, {})
        ax.loglog(
            [p["tokens"] for p in pts],
            [p["ms"] for p in pts],
            "o-",
            color=COLORS.get(system),
            label=f"{system} (slope {fit.get('slope', 0):.2f}, "
            f"larger half {fit.get('slope_upper_half', float('nan')):.2f})",
        )
        for p in pts:
            ax.annotate(
                str(p["x"]),
                (p["tokens"], p["ms"]),
                fontsize=6,
                textcoords="offset points",
                xytext=(2, -8),
                color="#555555",
            )
    ax.set_xlabel("tokens per batch (points labelled with the swept value)")
    ax.set_ylabel("ms per batch (median)")
    ax.set_title(
        f"{title}: {sweep['x_label']}\ntf.function calls; in graph: per batch of a 16-batch loop",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(x=0.08)  # room for the labels of the last points
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def all_charts(results: dict, out_dir: str) -> List[str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    if results.get("rows"):
        paths.append(throughput(results["rows"], os.path.join(out_dir, "throughput.png")))
    for sweep, title in (
        ("batch_size", "Time vs batch size"),
        ("sequence_length", "Time vs sequence length"),
    ):
        data = (results.get("scaling") or {}).get(sweep)
        if data and data.get("points"):
            paths.append(scaling(data, title, os.path.join(out_dir, f"scaling_{sweep}.png")))
    return paths
