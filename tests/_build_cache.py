"""Where the tests keep the C++ binaries they compile, and how that stays small.

The C++ unit tests, the fuzzers and the sanitizer drivers are compiled once
per (compiler, flags, sources) and reused: each build is an entry named
``<name>-<key>`` under ``$TF_MLM_CACHE_DIR`` (default ``~/.cache/tf_mlm``),
``<key>`` being a hash of what went into it. Every edit of cc/core makes new
keys, so without pruning the cache grows by one set of binaries per edit
(it reached 1.1 GB over a few sessions of kernel work). :func:`entry` keeps
the :data:`KEEP` most recently used entries of each name and deletes older
ones.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

# Entries kept per name: the current one plus a couple for switching between
# branches or TensorFlow environments without rebuilding.
KEEP = 3
_KEY = re.compile(r"[0-9a-f]{16}")


def root(kind: str) -> Path:
    """The cache directory for one kind of test binary (``cc_tests``, ``fuzz``)."""
    base = os.environ.get("TF_MLM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tf_mlm"
    )
    return Path(base) / kind


def entry(kind: str, name: str, key: str) -> Path:
    """Path of the entry ``<name>-<key>`` (a file or a directory; not created).

    Marks it as just used when it exists, then prunes the other entries of
    ``name`` beyond the :data:`KEEP` most recently used.
    """
    path = root(kind) / f"{name}-{key}"
    if path.exists():
        os.utime(path)
    prune(root(kind), name, keep=KEEP, protect=path)
    return path


def prune(directory: Path, name: str, keep: int, protect: Path | None = None) -> list[Path]:
    """Deletes the entries ``<name>-*`` of `directory` other than the `keep`
    most recently modified (and never `protect`); returns what it deleted.
    An entry's key is 16 hex digits; temporary files of builds in progress
    (``<name>-<key>.<pid>.tmp``) are not entries."""
    if not directory.is_dir():
        return []
    entries = []
    for path in directory.glob(f"{name}-*"):
        if not _KEY.fullmatch(path.name[len(name) + 1 :]):
            continue  # another name's entry (``<name>-x-<key>``), or a temporary file
        try:
            entries.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # pruned by a concurrent run
            continue
    entries.sort(reverse=True)
    removed = []
    for _, path in entries[keep:]:
        if protect is not None and path == protect:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
        removed.append(path)
    return removed
