"""Runs the sections of the benchmark in one process and gathers one
results dict (what latest.json holds)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from typing import Callable, Dict, Optional, Sequence

from benchmarks import masking, memory, reference, report, scaling, strategies

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SECTIONS = (
    "function",
    "eager",
    "whole-word",
    "tf.data",
    "strategies",
    "scaling",
    "memory",
    "keras",
    "collator",
    "hf",
)
EXTERNAL = {
    "keras": ("benchmarks.bench_keras", "Keras layer vs keras_hub"),
    "collator": ("benchmarks.bench_collator", "NumPy collator vs HuggingFace-style collator"),
    "hf": ("benchmarks.bench_hf", "tf_mlm.hf vs transformers' DataCollatorForLanguageModeling"),
}


@dataclasses.dataclass
class Settings:
    repeats: int = 30  # samples per tf.function measurement
    eager_repeats: int = 7  # samples per eager measurement (the peer: ~0.5 s each)
    tfdata_repeats: int = 3  # passes over the pipeline
    tfdata_seconds: float = 1.5  # length of one pass
    scaling_repeats: int = 5
    scaling_rows: Sequence[int] = scaling.FULL_ROWS
    scaling_lengths: Sequence[int] = scaling.FULL_LENGTHS
    whole_word_eager: bool = True  # the peer takes ~1.5 s a call
    memory_large_rows: Optional[int] = 4096
    memory_calls: int = 7
    external_repeats: int = 25


FULL = Settings()
QUICK = Settings(
    repeats=8,
    eager_repeats=2,
    tfdata_repeats=1,
    tfdata_seconds=0.3,
    scaling_repeats=3,
    scaling_rows=scaling.QUICK_ROWS,
    scaling_lengths=scaling.QUICK_LENGTHS,
    whole_word_eager=False,
    memory_large_rows=None,
    memory_calls=2,
    external_repeats=3,
)


def describe(ref: reference.Reference, tokens: int) -> str:
    return (
        f"{ref.rows} rows, lengths uniform in [{ref.min_len}, {ref.max_len}] (seed "
        f"{ref.seed}), {tokens:,} tokens, int64 ids, vocab {ref.vocab_size}, "
        f"selection_rate {ref.selection_rate}, cap {ref.max_selections_per_row}, "
        f"unselectable {list(ref.unselectable_ids)}, mask id {ref.mask_token}"
    )


def machine() -> dict:
    info = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            info["cpu"] = next(
                (l.split(":", 1)[1].strip() for l in f if l.startswith("model name")),
                platform.processor(),
            )
        with open("/proc/meminfo", encoding="utf-8") as f:
            kib = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
        info["memory_gb"] = round(kib / 1024**2, 1)
    except (OSError, StopIteration, ValueError):
        info.setdefault("cpu", platform.processor())
    for name in ("tensorflow", "tensorflow_text", "keras_hub", "tf_mlm", "numpy"):
        try:
            info[name] = importlib.import_module(name).__version__
        except (ImportError, AttributeError):
            info[name] = None
    return info


def _load():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


# Each external comparison runs in a fresh interpreter: the collator's users
# have no TensorFlow in the process, and neither comparison should inherit
# the thread pools, caches and allocator state of the sections before it.
_EXTERNAL_CHILD = (
    "import json, sys, importlib\n"
    "name, repeats = sys.argv[1], int(sys.argv[2])\n"
    "try:\n"
    "    module = importlib.import_module(name)\n"
    "except ModuleNotFoundError as e:\n"
    "    print(json.dumps({'missing': e.name})); sys.exit(0)\n"
    "print(json.dumps({'result': module.run(repeats=repeats)}))\n"
)


def run_external(section: str, repeats: int) -> dict:
    module_name, what = EXTERNAL[section]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _EXTERNAL_CHILD, module_name, str(repeats)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"what": what, "skipped": f"{module_name} could not run: {type(e).__name__}: {e}"}
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"what": what, "skipped": f"{module_name} failed: {tail}"}
    if "missing" in answer:
        if answer["missing"] == module_name:
            return {"what": what, "skipped": f"{module_name} not present"}
        return {"what": what, "skipped": f"{module_name} needs {answer['missing']}, not installed"}
    return {"what": what, "result": answer["result"]}


def run(
    settings: Settings = FULL,
    ref: reference.Reference = reference.REFERENCE,
    only: Optional[Sequence[str]] = None,
    log: Callable[[str], None] = print,
    systems: Optional[Dict[str, object]] = None,
) -> dict:
    """All requested sections; returns the results dict (rows with ratios,
    scaling, memory, external peers, machine, notes)."""
    wanted = set(only or SECTIONS)
    unknown = wanted - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    systems = reference.masking_systems() if systems is None else systems
    tokens = int(reference.row_lengths(ref).sum())
    results = {
        "reference": dataclasses.asdict(ref),
        "reference_description": describe(ref, tokens),
        "settings": dataclasses.asdict(settings),
        "sections": sorted(wanted),
        "machine": machine(),
        "load_average_start": _load(),
        "rows": [],
        "timings_s": {},
        "notes": [],
    }
    if systems.get("tensorflow_text") is None:
        results["notes"].append("tensorflow_text not importable: no peer ratios")
    steps = [
        ("function", lambda: masking.bench_function_and_floor(systems, ref, settings.repeats)),
        ("eager", lambda: masking.bench_eager(systems, ref, settings.eager_repeats)),
        (
            "whole-word",
            lambda: (
                masking.bench_whole_word_function(systems, ref, settings.repeats)
                + (
                    masking.bench_eager(systems, ref, settings.eager_repeats, whole_word=True)
                    if settings.whole_word_eager
                    else []
                )
            ),
        ),
        (
            "tf.data",
            lambda: masking.bench_tf_data(
                systems, ref, settings.tfdata_repeats, settings.tfdata_seconds
            ),
        ),
        ("strategies", lambda: strategies.bench_strategies(systems, ref, settings.repeats)),
    ]
    for name, step in steps:
        if name in wanted:
            results["rows"] += _timed(results, name, step, log)
    if "function" not in wanted and results["rows"]:
        results["notes"].append("floor not measured (section 'function' not run): no floor ratios")
    report.add_ratios(results["rows"])
    if "scaling" in wanted:
        results["scaling"] = _timed(
            results,
            "scaling",
            lambda: scaling.run(
                systems,
                ref,
                settings.scaling_repeats,
                settings.scaling_rows,
                settings.scaling_lengths,
            ),
            log,
        )
    if "memory" in wanted:
        results["memory"] = _timed(
            results,
            "memory",
            lambda: memory.run(systems, ref, settings.memory_large_rows, settings.memory_calls),
            log,
        )
    results["external"] = {}
    for section in EXTERNAL:
        if section in wanted:
            results["external"][section] = _timed(
                results, section, lambda s=section: run_external(s, settings.external_repeats), log
            )
    results["load_average_end"] = _load()
    results["notes"].append(
        f"{results['machine'].get('nproc')} CPU cores shared with other jobs; load average "
        f"{_fmt_load(results['load_average_start'])} at start, "
        f"{_fmt_load(results['load_average_end'])} at end: figures are noisy, ratios "
        "(measured interleaved in the same run) are steadier than absolute times."
    )
    return results


def _fmt_load(load) -> str:
    return "?" if not load else "/".join(f"{x:.2f}" for x in load)


def _timed(results, name, step, log):
    log(f"[benchmarks] {name} ...")
    start = time.perf_counter()
    out = step()
    results["timings_s"][name] = round(time.perf_counter() - start, 2)
    log(f"[benchmarks] {name} done in {results['timings_s'][name]:.1f} s")
    return out


def command_line() -> str:
    return (
        "python -m benchmarks " + " ".join(sys.argv[1:]) if sys.argv[1:] else "python -m benchmarks"
    )
