"""Peak memory of one eager masking call, against its output size.

Measured in a fresh subprocess per system (so that nothing else the
benchmark allocated is in the way), after three warm-up calls, two ways:

* ``tf_allocator``: TensorFlow's CPU allocator statistics
  (``tf.config.experimental.reset_memory_stats`` /
  ``get_memory_info('CPU:0')``): the peak of bytes held in TF tensors during
  the call, minus what was held before. Sees every tensor TF allocates
  (outputs, temporaries of composed ops), but not memory a kernel takes
  from ``malloc``/``new`` directly (e.g. ``std::vector`` scratch).
* ``rss``: the process's resident-set high-water mark (Linux: writing 5 to
  ``/proc/self/clear_refs`` resets ``VmHWM``) after the call, minus
  ``VmRSS`` before it, with freed heap returned to the OS first
  (``malloc_trim``). Sees everything, in 4 KiB pages, but also unrelated
  growth (Python objects, allocator caches): an upper-bound-ish estimate,
  noisy at the scale of a few hundred KiB. Median over several calls.

``output_bytes`` counts the new buffers the call returns: the flat values
of the three outputs and the row splits of the positions/labels (the
masked ids share the input's row splits).
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import json
import os
import subprocess
import sys
from typing import List, Optional

from benchmarks import reference


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _trim():
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_here(system: str, ref: reference.Reference, calls: int = 7) -> dict:
    """Runs in the child process."""
    import importlib

    import numpy as np
    import tensorflow as tf

    from benchmarks import masking

    mask = masking.masker(importlib.import_module(system), ref)
    rt = reference.token_batch(ref)
    for _ in range(3):  # warm-up
        out = mask(rt)
    masked, positions, labels = out
    output_bytes = int(
        sum(t.flat_values.numpy().nbytes for t in out) + positions.row_splits.numpy().nbytes
    )
    input_bytes = int(rt.flat_values.numpy().nbytes + rt.row_splits.numpy().nbytes)
    del out, masked, positions, labels
    result = {
        "system": system,
        "output_bytes": output_bytes,
        "input_bytes": input_bytes,
        "tokens": int(rt.flat_values.shape[0]),
    }

    try:
        _trim()
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        out = mask(rt)
        info = tf.config.experimental.get_memory_info("CPU:0")
        result["tf_allocator"] = {
            "peak_bytes": int(info["peak"] - before),
            "retained_bytes": int(info["current"] - before),
        }
        del out
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        result["tf_allocator"] = {"error": f"{type(e).__name__}: {e}"}

    if _reset_hwm():
        deltas = []
        for _ in range(calls):
            _trim()
            rss = _status_kib("VmRSS")
            _reset_hwm()
            out = mask(rt)
            deltas.append((_status_kib("VmHWM") - rss) * 1024)
            del out
        result["rss"] = {
            "peak_bytes_median": int(np.median(deltas)),
            "peak_bytes_max": int(max(deltas)),
            "calls": calls,
        }
    else:
        result["rss"] = {"error": "/proc/self/clear_refs not writable"}
    return result


def run(
    systems,
    ref: reference.Reference,
    large_rows: Optional[int] = 4096,
    calls: int = 7,
    timeout: float = 300,
) -> List[dict]:
    """One subprocess per (system, batch): every available system on `ref`,
    and tf_mlm alone on a `large_rows`-row batch too (fixed per-call
    allocations and page granularity matter less there; tensorflow_text
    would take minutes eagerly). Errors are reported, not raised."""
    jobs = [(name, ref) for name, mod in systems.items() if mod is not None]
    if large_rows and systems.get("tf_mlm") is not None:
        jobs.append(("tf_mlm", ref.scaled(rows=large_rows)))
    results = []
    for name, batch in jobs:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.memory",
            name,
            json.dumps(dataclasses.asdict(batch)),
            str(calls),
        ]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=_repo_root(),
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            results.append(
                {"system": name, "rows": batch.rows, "error": f"timed out after {timeout} s"}
            )
            continue
        lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        if proc.returncode != 0 or not lines:
            results.append(
                {
                    "system": name,
                    "rows": batch.rows,
                    "error": f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}",
                }
            )
            continue
        results.append(dict(json.loads(lines[-1]), rows=batch.rows))
    return results


def _repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ratio(result: dict, method: str) -> Optional[float]:
    """Peak bytes / output bytes for `method` ('tf_allocator' or 'rss')."""
    m = result.get(method) or {}
    peak = m.get("peak_bytes", m.get("peak_bytes_median"))
    if peak is None or not result.get("output_bytes"):
        return None
    return peak / result["output_bytes"]


def _main(argv):
    system, ref_json = argv[1], argv[2]
    fields = json.loads(ref_json)
    fields["unselectable_ids"] = tuple(fields["unselectable_ids"])
    calls = int(argv[3]) if len(argv) > 3 else 7
    print(json.dumps(measure_here(system, reference.Reference(**fields), calls)))


if __name__ == "__main__":
    _main(sys.argv)
