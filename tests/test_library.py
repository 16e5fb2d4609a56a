"""Loading the op library: never a mismatched TensorFlow build, rebuilt or a
clear error instead (what happens after a TensorFlow upgrade)."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tf_mlm
from tf_mlm import _build
from tf_mlm._tf import library as _library

# Multi-process, compiler or sanitizer work: the main CI job runs these;
# the Bazel and TensorFlow-matrix jobs deselect them (-m 'not slow').
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def stale_install(tmp_path_factory):
    """A copy of the installed package whose op library claims to have been
    built for another TensorFlow, as after `pip install tensorflow==<other>`."""
    site = tmp_path_factory.mktemp("site")
    pkg = site / "tf_mlm"
    shutil.copytree(ROOT / "tf_mlm", pkg, ignore=shutil.ignore_patterns("__pycache__", "_core*"))
    for rel in _build.CORE_HEADERS + _build.TF_HEADERS + _build.TF_SOURCES:
        (pkg / "_src" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, pkg / "_src" / rel)
    info = json.loads((pkg / _build.INFO_NAME).read_text())
    info.update(version="2.0.0", git_version="v2.0.0-old")
    (pkg / _build.INFO_NAME).write_text(json.dumps(info))
    return site


def run_child(site, cache, **env):
    script = textwrap.dedent("""
        import tensorflow as tf, tf_mlm
        out = tf_mlm.mask_language_model(
            tf.ragged.constant([[1, 2, 3]]), tf_mlm.RandomItemSelector(5, 1.0),
            tf_mlm.MaskValuesChooser(10, 9, 1.0, 0.0))
        print("MASKED", out[0].to_list(), tf_mlm.get_library_path())
    """)
    child_env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "TF_MLM_CACHE_DIR": str(cache),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **env,
    }
    child_env.pop("TF_MLM_OPS_LIBRARY", None)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=site,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_a_library_built_for_another_tensorflow_is_rebuilt(stale_install, tmp_path):
    proc = run_child(stale_install, tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "built for TensorFlow 2.0.0" in proc.stderr  # says why it rebuilds
    masked, path = proc.stdout.split("MASKED", 1)[1].rsplit(" ", 1)
    assert masked.strip() == "[[9, 9, 9]]"
    assert Path(path.strip()).parent.parent == tmp_path / "cache"
    # The stale library was never loaded: no crash, no undefined symbol.
    assert "undefined symbol" not in proc.stderr


def test_without_a_rebuild_the_error_names_the_command(stale_install, tmp_path):
    proc = run_child(stale_install, tmp_path / "cache", TF_MLM_NO_BUILD="1")
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr or "LibraryMismatchError" in proc.stderr
    assert "built for TensorFlow 2.0.0" in proc.stderr and "pip install" in proc.stderr
    assert "undefined symbol" not in proc.stderr and "Segmentation" not in proc.stderr


def test_library_path_and_explicit_override(tmp_path):
    path = tf_mlm.get_library_path()
    assert Path(path).is_file()
    info = _build.TFInfo.from_running_tensorflow()
    assert info.key.startswith("tf-")
    missing = tmp_path / "nope.so"
    env = {**os.environ, "TF_MLM_OPS_LIBRARY": str(missing)}
    proc = subprocess.run(
        [sys.executable, "-c", "import tf_mlm; tf_mlm.get_library_path()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0 and "TF_MLM_OPS_LIBRARY" in proc.stderr
    assert _library.source_root() == ROOT
