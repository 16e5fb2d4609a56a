"""Runs a batch of raw tf_mlm op calls described in JSON, one line of JSON out
per call: the child process of tests/test_fuzz.py's op fuzzing, so that an
abort or a segfault in a kernel kills this process (and is reported with the
call that did it), never the test runner.

Input (stdin): one JSON case a line, ``{"op": "tfmlm_...", "args": {...},
"graph": bool}``, run as it arrives; each argument is a spec:

- ``{"t": "tensor", "dtype": "int64", "data": [...], "shape": [...]}``
- ``{"t": "bools", "bytes": [...], "shape": [...]}``: a bool tensor holding
  these raw bytes (values other than 0/1 included, as a NumPy uint8 view
  gives them);
- ``{"t": "list", "items": [spec, ...]}``;
- ``{"t": "py", "v": value}``: a plain Python value (attrs, wrong types).

Output (stdout): before each call ``{"i": n, "start": true}``, after it
``{"i": n, "outcome": "ok" | <exception class name>, "msg": ...}``.
Outcome "invariant" means the op returned but its outputs are malformed.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_mlm._tf import library as _library  # noqa: E402


def build(spec):
    kind = spec["t"]
    if kind == "tensor":
        arr = np.array(spec["data"], dtype=spec["dtype"]).reshape(spec["shape"])
        return tf.constant(arr)
    if kind == "bools":
        arr = np.array(spec["bytes"], dtype=np.uint8).view(np.bool_).reshape(spec["shape"])
        return tf.constant(arr)
    if kind == "list":
        return [build(s) for s in spec["items"]]
    return spec["v"]


class InvariantError(Exception):
    """An op returned malformed outputs."""


def check_positions(values, splits, positions, position_splits, ids):
    """Recorded positions lie inside their rows, ids are the input's."""
    values = np.asarray(values)
    tokens = np.asarray(splits[-1])
    for level in reversed(splits[:-1]):
        tokens = tokens[np.asarray(level)]
    positions, position_splits, ids = map(np.asarray, (positions, position_splits, ids))
    if position_splits[0] != 0 or position_splits[-1] != len(positions):
        raise InvariantError("position splits do not cover the positions")
    for b in range(len(position_splits) - 1):
        t0, t1 = tokens[b], tokens[b + 1]
        p = positions[position_splits[b] : position_splits[b + 1]]
        if len(p) and (p.min() < 0 or p.max() >= t1 - t0 or np.any(np.diff(p) <= 0)):
            raise InvariantError(f"row {b}: positions {p.tolist()} outside [0, {t1 - t0})")
        if not np.array_equal(ids[position_splits[b] : position_splits[b + 1]], values[t0 + p]):
            raise InvariantError(f"row {b}: recorded ids are not the input ids")


def check(op, args, out):
    if op in ("tfmlm_mask_language_model", "tfmlm_gather_masked"):
        splits = [s.numpy() for s in args["row_splits"]]
        if op == "tfmlm_gather_masked":
            positions, position_splits, ids = out
        else:
            _, positions, position_splits, ids = out
        check_positions(
            args["values"].numpy(), splits, positions.numpy(), position_splits.numpy(), ids.numpy()
        )
    if op in ("tfmlm_span_corruption", "tfmlm_noise_spans_to_sentinels"):
        rows = len(args["row_splits"].numpy()) - 1
        for name in ("inputs", "targets"):
            values, splits = getattr(out, name).numpy(), getattr(out, name + "_row_splits").numpy()
            if len(splits) != rows + 1 or splits[0] != 0 or splits[-1] != len(values):
                raise InvariantError(f"{name} row splits do not cover the {name}")
            if np.any(np.diff(splits) < 0):
                raise InvariantError(f"{name} row splits decrease")


def main():
    ops = _library.ops()
    print(json.dumps({"ready": True}), flush=True)
    for i, line in enumerate(sys.stdin):
        case = json.loads(line)
        print(json.dumps({"i": i, "start": True}), flush=True)
        try:
            args = {k: build(v) for k, v in case["args"].items()}
            fn = getattr(ops, case["op"])
            if case.get("graph"):
                out = tf.function(lambda: fn(**args))()
            else:
                out = fn(**args)
            check(case["op"], args, out)
            outcome, msg = "ok", ""
        except InvariantError as e:
            outcome, msg = "invariant", str(e)
        except Exception as e:  # noqa: BLE001 - the parent judges the class
            outcome, msg = type(e).__name__, str(e)[:300]
        print(json.dumps({"i": i, "outcome": outcome, "msg": msg}), flush=True)


if __name__ == "__main__":
    main()
