"""Loads a SavedModel that uses tf_mlm's ops in a fresh process and runs it.

    python _export_child.py HOW SAVED_MODEL_DIR [LIBRARY_PATH]

HOW says how tf_mlm's ops get registered before loading:

* ``bare``: not at all (tf_mlm is never imported): loading must fail;
* ``load_op_library``: ``tf.load_op_library(LIBRARY_PATH)`` only, tf_mlm is
  never imported;
* ``import``: ``import tf_mlm`` only;
* ``import_and_register``: ``import tf_mlm`` and ``tf_mlm.get_library_path()``;
* ``keras``: like ``import_and_register``, for a ``model.export`` artifact.

Prints one JSON line: ``{"error": ...}`` or ``{"outputs": ...}``, and
whether tf_mlm was imported.
"""

import json
import sys

# Inputs the test feeds before saving and the child after loading.
RAGGED_INPUTS = [
    [101, 7, 8, 9, 10, 11, 12, 102],
    [101, 5, 6, 102],
    [101, 102],
    [101, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 102],
]
DENSE_INPUTS = [
    [101, 7, 8, 9, 10, 11, 12, 102, 0, 0],
    [101, 5, 6, 102, 0, 0, 0, 0, 0, 0],
    [101, 40, 41, 42, 43, 44, 45, 46, 47, 102],
]
SEEDS = [[1, 2], [3, 4], [-5, 123456789]]


def to_json(value):
    """Nested outputs (dicts, tuples, Tensors, RaggedTensors) as plain lists."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "to_list"):
        return {"ragged": value.to_list(), "dtype": value.dtype.name}
    if hasattr(value, "numpy"):
        return {"dense": value.numpy().tolist(), "dtype": value.dtype.name}
    return value


def run_module(loaded):
    """Calls every endpoint of the tf.Module the test saved."""
    import tensorflow as tf

    ragged = tf.ragged.constant(RAGGED_INPUTS, dtype=tf.int64)
    dense = tf.constant(DENSE_INPUTS, dtype=tf.int32)
    out = []
    for seed in SEEDS:
        seed = tf.constant(seed, tf.int64)
        out.append(
            {
                "ragged_fn": loaded.mask_ragged(ragged, seed),
                "dense_fn": loaded.mask_dense(dense, seed),
                # Signatures flatten a RaggedTensor input into its components.
                "ragged_sig": loaded.signatures["mask_ragged"](
                    ids=ragged.flat_values, ids_1=ragged.row_splits, seed=seed
                ),
                "dense_sig": loaded.signatures["serving_default"](ids=dense, seed=seed),
            }
        )
    return out


def run_keras(loaded):
    import tensorflow as tf

    return loaded.serve(tf.constant(DENSE_INPUTS, dtype=tf.int32))


def main(argv):
    import _subprocess_utils

    _subprocess_utils.die_with_parent()
    how, path = argv[1], argv[2]
    import tensorflow as tf

    if how == "load_op_library":
        tf.load_op_library(argv[3])
    elif how == "import":
        import tf_mlm  # noqa: F401
    elif how in ("import_and_register", "keras"):
        import tf_mlm

        tf_mlm.get_library_path()
    elif how != "bare":
        raise SystemExit(f"unknown HOW {how!r}")
    result = {}
    try:
        loaded = tf.saved_model.load(path)
        result["outputs"] = to_json(run_keras(loaded) if how == "keras" else run_module(loaded))
    except Exception as e:
        result["error"] = f"{type(e).__name__}: {e}"
    result["tf_mlm_imported"] = "tf_mlm" in sys.modules
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv)
