"""Loading tf_mlm's TensorFlow op library, built for the running TensorFlow.

An op library compiled against one TensorFlow build can crash, or fail with
undefined symbols, inside another. Every library therefore carries a
build-info file naming the TensorFlow it was compiled against, and is loaded
only when that matches the running TensorFlow. Order of search:

1. ``$TF_MLM_OPS_LIBRARY``: an explicit path (e.g. a Bazel-built library),
   loaded as is; the user vouches for it.
2. The library installed inside the package by ``pip install``.
3. A per-TensorFlow-build cache (``$TF_MLM_CACHE_DIR``, default
   ``~/.cache/tf_mlm``), filled by 4.
4. A fresh build from the C++ sources shipped with the package, into that
   cache (needs a C++ compiler; takes about half a minute, once per
   TensorFlow build). Set ``TF_MLM_NO_BUILD=1`` to get an error with the
   command to run instead.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Optional

import tensorflow as tf

from tf_mlm import _build

# The package directory (tf_mlm/), where the build puts the op library.
_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_ops = None
_path: Optional[Path] = None


class LibraryMismatchError(ImportError):
    """The op library was built for another TensorFlow and cannot be rebuilt."""


def source_root() -> Optional[Path]:
    """Directory holding ``cc/`` (the repository, or the installed copy)."""
    for root in (_PACKAGE_DIR.parent, _PACKAGE_DIR / "_src"):
        sources = _build.TF_SOURCES + _build.TF_HEADERS + _build.CORE_HEADERS
        if all((root / f).is_file() for f in sources):
            return root
    return None


def cache_dir(info: _build.TFInfo) -> Path:
    base = os.environ.get("TF_MLM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tf_mlm"
    )
    return Path(base) / info.key


def _matches(directory: Path, info: _build.TFInfo) -> bool:
    lib, meta = directory / _build.LIBRARY_NAME, directory / _build.INFO_NAME
    if not (lib.is_file() and meta.is_file()):
        return False
    try:
        built = json.loads(meta.read_text())
    except (OSError, ValueError):
        return False
    return (built.get("version"), built.get("git_version")) == (info.version, info.git_version)


def _reinstall_command() -> str:
    root = source_root()
    if root is not None and (root / "setup.py").is_file():
        return f"pip install --no-build-isolation --no-deps --force-reinstall -e {root}"
    return "pip install --no-deps --force-reinstall --no-binary tf-mlm tf-mlm"


def _find_or_build(info: _build.TFInfo) -> Path:
    explicit = os.environ.get("TF_MLM_OPS_LIBRARY")
    if explicit:
        if not os.path.isfile(explicit):
            raise LibraryMismatchError(f"TF_MLM_OPS_LIBRARY={explicit} does not name a file")
        return Path(explicit)
    if _matches(_PACKAGE_DIR, info):
        return _PACKAGE_DIR / _build.LIBRARY_NAME
    cached = cache_dir(info)
    if _matches(cached, info):
        return cached / _build.LIBRARY_NAME
    root = source_root()
    installed = _installed_for()
    reason = (
        f"tf_mlm's op library was built for TensorFlow {installed}, but TensorFlow "
        f"{info.version} is installed"
        if installed
        else f"tf_mlm has no op library built for TensorFlow {info.version}"
    )
    if root is None or os.environ.get("TF_MLM_NO_BUILD"):
        raise LibraryMismatchError(
            f"{reason}. Rebuild it against the installed TensorFlow with:\n"
            f"    {_reinstall_command()}"
        )
    cached.mkdir(parents=True, exist_ok=True)
    # One process builds; others wait on the lock and then find the result.
    with open(cached / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _matches(cached, info):
            import sys

            print(
                f"tf_mlm: {reason}; building it into {cached} (once per TensorFlow build)...",
                file=sys.stderr,
            )
            try:
                _build.build_op_library(root, cached, info)
            except RuntimeError as e:
                raise LibraryMismatchError(
                    f"{reason}, and rebuilding it failed:\n{e}\nRebuild it with:\n"
                    f"    {_reinstall_command()}"
                ) from e
    return cached / _build.LIBRARY_NAME


def _installed_for() -> Optional[str]:
    meta = _PACKAGE_DIR / _build.INFO_NAME
    try:
        return json.loads(meta.read_text()).get("version")
    except (OSError, ValueError):
        return None


@tf.autograph.experimental.do_not_convert
def ops():
    """The loaded op library module (raw ops as ``tfmlm_*`` functions)."""
    global _ops, _path
    if _ops is None:
        info = _build.TFInfo.from_running_tensorflow()
        path = _find_or_build(info)
        _ops = tf.load_op_library(str(path))
        _path = path
    return _ops


@tf.autograph.experimental.do_not_convert
def load_ops() -> None:
    """Registers tf_mlm's ops with TensorFlow (e.g. before loading a
    SavedModel that uses them). ``import tf_mlm`` does this by itself when
    TensorFlow is already imported."""
    ops()


@tf.autograph.experimental.do_not_convert
def get_library_path() -> str:
    """Path of the op library for ``tf.load_op_library`` (e.g. before loading
    a SavedModel that uses tf_mlm ops in a process that does not import
    tf_mlm)."""
    ops()
    return str(_path)
