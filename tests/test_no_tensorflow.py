"""The NumPy path works in a process that never imports TensorFlow."""

import subprocess
import sys
import textwrap

import pytest


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_tf_mlm_numpy_does_not_import_tensorflow():
    # the check the issue asks for, verbatim
    proc = run_python("import tf_mlm.numpy, sys; assert 'tensorflow' not in sys.modules")
    assert proc.returncode == 0, proc.stderr


def test_masking_and_collating_without_tensorflow_torch_or_jax():
    proc = run_python("""
        import sys
        import numpy as np
        import tf_mlm
        from tf_mlm import numpy as mlm
        from tf_mlm.collator import MLMCollator

        r = mlm.mask_ragged(np.array([101, 5, 6, 102]), np.array([0, 4]), vocab_size=200,
                            mask_token=103, selection_rate=1.0, unselectable_ids=[101, 102],
                            mask_token_rate=1.0, random_token_rate=0.0, seed=0)
        assert r.masked_values.tolist() == [101, 103, 103, 102], r
        batch = MLMCollator(vocab_size=200, mask_token=103, seed=0)([[1, 2, 3], [4]])
        assert batch["input_ids"].shape == (2, 3)
        for name in ("tensorflow", "torch", "jax", "keras"):
            assert name not in sys.modules, name
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_tensorflow_blocked_entirely():
    """Even with TensorFlow made unimportable the NumPy path works (a
    process whose environment has no TensorFlow)."""
    proc = run_python("""
        import sys
        sys.modules["tensorflow"] = None  # any `import tensorflow` now raises ImportError
        import numpy as np
        from tf_mlm import numpy as mlm
        r = mlm.mask_sequences([[7, 8, 9]], vocab_size=20, mask_token=1, selection_rate=1.0,
                               seed=3)
        assert len(r.masked_positions) == 3
        import tf_mlm
        try:
            tf_mlm.mask_language_model
        except ImportError:
            print("tf api needs tensorflow")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "tf api needs tensorflow"


@pytest.mark.parametrize(
    "module",
    [
        "tf_mlm.numpy",
        "tf_mlm.collator",
        "tf_mlm._core",
        "tf_mlm.options",
        "tf_mlm.vocab",
        "tf_mlm._shared.args",
        "tf_mlm._shared.seeds",
        "tf_mlm._shared.layouts",
        "tf_mlm._shared.batching",
        "tf_mlm._shared.t5_lengths",
    ],
)
def test_modules_import_alone(module):
    proc = run_python(f"import {module}, sys; assert 'tensorflow' not in sys.modules")
    assert proc.returncode == 0, proc.stderr


def test_hf_module_imports_transformers_but_not_torch():
    # tf_mlm.hf's collator subclasses transformers' class: importing the
    # module imports transformers; torch only when "pt" batches are made.
    pytest.importorskip("transformers", reason="transformers (the test extra) is not installed")
    proc = run_python("""
        import sys
        import tf_mlm.hf
        assert "transformers" in sys.modules
        for name in ("tensorflow", "torch", "jax"):
            assert name not in sys.modules, name
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_hf_module_without_transformers_names_the_extra():
    proc = run_python("""
        import sys
        sys.modules["transformers"] = None
        try:
            import tf_mlm.hf
        except ImportError as e:
            print(e)
    """)
    assert proc.returncode == 0, proc.stderr
    assert 'pip install "tf_mlm[hf]"' in proc.stdout
