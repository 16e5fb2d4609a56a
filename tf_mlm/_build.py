"""Building the TensorFlow op library against a given TensorFlow.

This module is the single source of truth for what the op library is made
of (sources, flags) and how it is compiled. It is used by ``setup.py`` at
install time and by :mod:`tf_mlm._tf.library` at import time when the installed
TensorFlow is not the one the library was built against. It must not import
TensorFlow itself: the TensorFlow to build against is described by a
:class:`TFInfo`, which may come from another interpreter (pip's isolated
build environment cannot see the user's TensorFlow, see ``setup.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Mapping, Optional, Sequence

# Paths relative to the source root (the repository, or the copy of ``cc/``
# that is shipped inside the installed package).
CORE_HEADERS = (
    "cc/core/bits.h",
    "cc/core/composed.h",
    "cc/core/cpu.h",
    "cc/core/emit.h",
    "cc/core/id_set.h",
    "cc/core/masking.h",
    "cc/core/options.h",
    "cc/core/padded_batch.h",
    "cc/core/parallel.h",
    "cc/core/philox.h",
    "cc/core/ragged.h",
    "cc/core/rank_walk.h",
    "cc/core/replacement.h",
    "cc/core/selectable.h",
    "cc/core/selection.h",
    "cc/core/span_corruption.h",
    "cc/core/span_pass.h",
    "cc/core/spans.h",
    "cc/core/status.h",
    "cc/core/tf_random.h",
    "cc/core/token_pass.h",
    "cc/core/values.h",
    "cc/core/word_pass.h",
    "cc/core/words.h",
)
# The TF adapter, one file per op family (each op's registration beside its
# kernel), and the header they share.
TF_SOURCES = (
    "cc/tf/selection_ops.cc",
    "cc/tf/value_ops.cc",
    "cc/tf/fused_ops.cc",
    "cc/tf/word_ops.cc",
    "cc/tf/span_ops.cc",
    "cc/tf/t5_ops.cc",
)
TF_HEADERS = ("cc/tf/adapter.h",)
PY_SOURCES = (
    "cc/py/module.cc",
    "cc/py/masking.cc",
    "cc/py/collation.cc",
    "cc/py/padded.cc",
    "cc/py/t5.cc",
)
PY_HEADERS = ("cc/py/arrays.h", "cc/py/bindings.h")
CXXFLAGS = ("-std=c++17", "-O3", "-fPIC", "-fvisibility=hidden", "-DNDEBUG")

LIBRARY_NAME = "_tf_mlm_ops.so"
INFO_NAME = "_tf_mlm_ops.json"

_PROBE = r"""
import json, tensorflow as tf
print(json.dumps({
    "version": tf.__version__,
    "git_version": tf.version.GIT_VERSION,
    "compile_flags": tf.sysconfig.get_compile_flags(),
    "link_flags": tf.sysconfig.get_link_flags(),
}))
"""


@dataclasses.dataclass(frozen=True)
class TFInfo:
    """What the op library must match: a TensorFlow build and its flags."""

    version: str
    git_version: str
    compile_flags: tuple
    link_flags: tuple

    @classmethod
    def from_dict(cls, d: Mapping) -> "TFInfo":
        return cls(
            d["version"], d["git_version"], tuple(d["compile_flags"]), tuple(d["link_flags"])
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def key(self) -> str:
        """Identifies binary compatibility: same key, same TensorFlow build."""
        digest = hashlib.sha256(json.dumps([self.version, self.git_version]).encode()).hexdigest()
        return f"tf-{self.version}-{digest[:12]}"

    @classmethod
    def from_running_tensorflow(cls) -> "TFInfo":
        import tensorflow as tf

        return cls(
            tf.__version__,
            tf.version.GIT_VERSION,
            tuple(tf.sysconfig.get_compile_flags()),
            tuple(tf.sysconfig.get_link_flags()),
        )


def probe_tensorflow(python: str = sys.executable) -> Optional[TFInfo]:
    """Describes the TensorFlow that `python` imports, or None if it has none.

    The probe runs in a child process whose environment drops the variables
    pip uses to isolate a build (PYTHONPATH, PYTHONNOUSERSITE, ...), so from
    inside an isolated build it still sees the environment being installed
    into, never a TensorFlow pulled into the build environment.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONNOUSERSITE", "PYTHONHOME", "PYTHONSTARTUP")
    }
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        out = subprocess.run(
            [python, "-c", _PROBE], env=env, check=True, capture_output=True, text=True, timeout=600
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return None
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    try:
        return TFInfo.from_dict(json.loads(last))
    except (ValueError, KeyError):
        return None


def compiler() -> str:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or "c++"


def build_op_library(
    source_root: Path,
    output_dir: Path,
    info: TFInfo,
    extra_flags: Sequence[str] = (),
    verbose: bool = False,
) -> Path:
    """Compiles the op library for `info` into `output_dir`.

    Sources compile in parallel; the result is written under a temporary
    name and renamed into place together with its build-info file, so a
    concurrent reader never sees a half-written library.
    """
    source_root = Path(source_root)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    cxx = compiler()
    with tempfile.TemporaryDirectory(prefix="tf_mlm_build_") as tmp:

        def compile_one(src: str) -> str:
            obj = os.path.join(tmp, Path(src).stem + ".o")
            cmd = [
                cxx,
                *CXXFLAGS,
                *info.compile_flags,
                *extra_flags,
                f"-I{source_root}",
                "-c",
                str(source_root / src),
                "-o",
                obj,
            ]
            _run(cmd, verbose)
            return obj

        with ThreadPoolExecutor(
            max_workers=max(1, min(len(TF_SOURCES), os.cpu_count() or 1))
        ) as ex:
            objects = list(ex.map(compile_one, TF_SOURCES))
        tmp_lib = output_dir / f".{LIBRARY_NAME}.{os.getpid()}.tmp"
        _run(
            [cxx, "-shared", *objects, *info.link_flags, *extra_flags, "-o", str(tmp_lib)], verbose
        )
    tmp_info = output_dir / f".{INFO_NAME}.{os.getpid()}.tmp"
    tmp_info.write_text(json.dumps(info.to_dict(), indent=1))
    os.replace(tmp_lib, output_dir / LIBRARY_NAME)
    os.replace(tmp_info, output_dir / INFO_NAME)
    return output_dir / LIBRARY_NAME


def _run(cmd: Sequence[str], verbose: bool) -> None:
    if verbose:
        print(" ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            "tf_mlm: building the TensorFlow op library failed:\n  "
            + " ".join(shlex.quote(c) for c in cmd)
            + "\n"
            + proc.stderr[-4000:]
        )


def main() -> None:
    """``python -m tf_mlm._build``: rebuild the op library in place (for
    developers working in an editable checkout)."""
    info = probe_tensorflow()
    if info is None:
        raise SystemExit("tf_mlm: TensorFlow is not importable by " + sys.executable)
    root = Path(__file__).resolve().parent.parent
    path = build_op_library(root, Path(__file__).resolve().parent, info, verbose=True)
    print(f"built {path} for TensorFlow {info.version}")


if __name__ == "__main__":
    main()
