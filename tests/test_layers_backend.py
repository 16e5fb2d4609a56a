"""MaskedLMMaskGenerator under a non-TensorFlow Keras backend (JAX, else
PyTorch), in a subprocess: eager calls run the NumPy core and return the
backend's tensors without importing TensorFlow; tf.data still runs the TF
kernels; for one stateless seed both give the TF path's masks."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tf_mlm.layers import MaskedLMMaskGenerator

# Multi-process, compiler or sanitizer work: the main CI job runs these;
# the Bazel and TensorFlow-matrix jobs deselect them (-m 'not slow').
pytestmark = pytest.mark.slow

BATCH = [[1, 4, 5, 6, 2, 7, 8, 2, 0, 0], [1, 4, 5, 2, 6, 7, 8, 9, 2, 0]]
RAGGED = [[1, 11, 12, 13, 14, 2], [1, 15, 2], [16]]
SINGLE = [5, 6, 7, 8, 9, 10, 11, 12]
KWARGS = dict(
    vocabulary_size=1000,
    mask_selection_rate=0.5,
    mask_token_id=103,
    unselectable_token_ids=[0, 1, 2],
    seed=[8, 9],
)
# All the masking strategies at once (tf_mlm extensions): whole words (ids
# 5 and 6 continue a word), spans of them, excluded ids, replacement weights.
STRATEGIES = dict(
    continuation_table=[5 <= i <= 6 for i in range(1000)],
    span_p=0.3,
    excluded_token_ids=[0, 1, 2, 103],
    replacement_frequencies=[float(i % 9) for i in range(1000)],
)

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    from tf_mlm.layers import MaskedLMMaskGenerator

    backend, batch, ragged, single, kwargs, strategies = json.loads(sys.argv[1])
    assert keras.config.backend() == backend, keras.config.backend()
    if backend == "jax":
        import jax
        tensor_type = jax.Array
    else:
        import torch
        tensor_type = torch.Tensor

    def dense(x, dtype):
        assert isinstance(x, tensor_type), type(x)
        assert keras.backend.standardize_dtype(x.dtype) == dtype, (x.dtype, dtype)
        return keras.ops.convert_to_numpy(x).tolist()

    out = {}
    padded = MaskedLMMaskGenerator(mask_selection_length=4, **kwargs)
    r = padded(batch)
    # int64 positions; JAX without x64 holds them as int32.
    position_dtype = "int32" if backend == "jax" else "int64"
    out["padded_list"] = [dense(r["token_ids"], "int32"),
                          dense(r["mask_positions"], position_dtype),
                          dense(r["mask_ids"], "int32"), dense(r["mask_weights"], "float32")]
    r = padded(keras.ops.convert_to_tensor(np.array(batch, np.int32)))  # a backend tensor
    out["padded_backend_tensor"] = dense(r["token_ids"], "int32")
    r = padded(np.array(single, np.int32))
    out["single"] = [dense(r["token_ids"], "int32"), dense(r["mask_ids"], "int32")]
    r = MaskedLMMaskGenerator(**kwargs)(ragged)
    assert all(isinstance(v, list) for v in r.values()), r  # ragged: lists of lists
    out["ragged"] = [r["token_ids"], r["mask_positions"], r["mask_ids"], r["mask_weights"]]
    r = MaskedLMMaskGenerator(mask_selection_length=4, dtype="bfloat16", **kwargs)(batch)
    dense(r["mask_weights"], "bfloat16")
    r = MaskedLMMaskGenerator(mask_selection_length=4, mask_token_rate=0.5,
                              random_token_rate=0.5, **strategies, **kwargs)(batch)
    out["strategies"] = [dense(r["token_ids"], "int32"), dense(r["mask_positions"],
                                                               position_dtype)]
    out["tensorflow_imported_by_eager_calls"] = "tensorflow" in sys.modules

    import tensorflow as tf
    ds = tf.data.Dataset.from_tensors(tf.constant(batch)).map(padded)
    element = next(iter(ds))
    assert all(isinstance(v, tf.Tensor) for v in element.values())
    out["tf_data"] = [element[k].numpy().tolist()
                      for k in ("token_ids", "mask_positions", "mask_ids", "mask_weights")]
    print("RESULT " + json.dumps(out))
""")


def _available(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _run_child(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("JAX_ENABLE_X64", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            json.dumps([backend, BATCH, RAGGED, SINGLE, KWARGS, STRATEGIES]),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    return json.loads(lines[-1][len("RESULT ") :])


def _tf_path(layer, x):
    out = layer(x)
    return [
        v.to_list() if isinstance(v, tf.RaggedTensor) else v.numpy().tolist()
        for v in (out[k] for k in ("token_ids", "mask_positions", "mask_ids", "mask_weights"))
    ]


def _backend_or_skip():
    for backend in ("jax", "torch"):
        if _available(backend):
            return backend
    pytest.skip(
        "neither jax nor torch is installed: no non-TensorFlow Keras backend to run "
        "(pip install jax)"
    )


def test_layer_under_a_non_tensorflow_backend():
    backend = _backend_or_skip()
    got = _run_child(backend)
    assert not got["tensorflow_imported_by_eager_calls"]
    padded = MaskedLMMaskGenerator(mask_selection_length=4, **KWARGS)
    want = _tf_path(padded, tf.constant(BATCH))
    assert got["padded_list"] == want
    assert got["padded_backend_tensor"] == want[0]
    assert got["tf_data"] == want
    single = _tf_path(padded, tf.constant(SINGLE))
    assert got["single"] == [single[0], single[2]]
    assert got["ragged"] == _tf_path(MaskedLMMaskGenerator(**KWARGS), tf.ragged.constant(RAGGED))
    strategies = MaskedLMMaskGenerator(
        mask_selection_length=4, mask_token_rate=0.5, random_token_rate=0.5, **STRATEGIES, **KWARGS
    )
    assert got["strategies"] == _tf_path(strategies, tf.constant(BATCH))[:2]
    # The masks are real ones: half of the selectable tokens of each row.
    assert [int(sum(w)) for w in got["padded_list"][3]] == [3, 3]
    assert np.array_equal(np.asarray(got["padded_list"][2])[:, 0] > 0, [True, True])
