"""Durable files and atomic publishing for ``tf-mlm mask`` output (see
:mod:`tf_mlm.pretraining.writers`): the temporary sibling directory a run
writes into and the stale ones of killed runs, checksums and fsyncs, the
atomic exchange of two directories, durable JSON, and the errors of the
environment as :class:`OutputError`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
from typing import Dict, List, Optional

from tf_mlm.pretraining.records import is_output_file

# Temporary sibling directories: .NAME.tf-mlm-tmp-PID (and -old while the
# fallback publishing moves a previous dataset away).
_TMP_TAG = ".tf-mlm-tmp-"
# Temporary files of releases that wrote inside the output directory.
_OLD_TMP_RE = re.compile(r"^\..+\.tmp-(\d+)$")


class OutputError(Exception):
    """The output cannot be written (an environment error: disk full,
    quota, read-only file system, ...): the message names the path and the
    OS's reason, and is meant to be shown to the user as is."""


_REASONS = (
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EFBIG,
    errno.EIO,
    errno.EACCES,
    errno.EPERM,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EXDEV,
    errno.ENOTEMPTY,
)


def os_reason(e: BaseException) -> str:
    """The OS's reason in an error, as ``strerror (ENAME)`` when it names an
    errno (also in TensorFlow's messages, which hold only the text).

    >>> os_reason(OSError(errno.ENOSPC, "No space left on device"))
    'No space left on device (ENOSPC)'
    """
    code = getattr(e, "errno", None)
    if isinstance(code, int) and code in errno.errorcode:
        return f"{os.strerror(code)} ({errno.errorcode[code]})"
    text = getattr(e, "message", None) or str(e)
    for code in _REASONS:
        if os.strerror(code) in text:
            return f"{os.strerror(code)} ({errno.errorcode[code]})"
    return text.splitlines()[0] if text else type(e).__name__


@contextlib.contextmanager
def output_errors(what: str):
    """Turns OS and TensorFlow I/O errors into :class:`OutputError`."""
    try:
        import tensorflow as tf

        tf_errors = (tf.errors.OpError,)
    except ImportError:  # pragma: no cover
        tf_errors = ()
    try:
        yield
    except (OSError,) + tf_errors as e:
        raise OutputError(f"cannot {what}: {os_reason(e)}") from None


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: str, b: str) -> bool:
    """Atomically swaps the paths ``a`` and ``b`` (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``). False when the system or file system cannot;
    other errors raise OSError."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), a)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def digest_and_sync(path: str) -> Dict:
    """SHA-256 and size of a closed file, read back, then fsynced."""
    with open(path, "rb") as f:
        digest = (
            hashlib.file_digest(f, "sha256")
            if hasattr(hashlib, "file_digest")
            else _sha256_chunks(f)
        )
        os.fsync(f.fileno())
        size = f.tell()
    return {"sha256": digest.hexdigest(), "bytes": size}


def _sha256_chunks(f):
    h = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
    return h


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temporary_dir(output_dir: str, pid: Optional[int] = None) -> str:
    """The hidden sibling directory a run writes ``output_dir`` into."""
    out = os.path.realpath(output_dir)
    return os.path.join(
        os.path.dirname(out),
        f".{os.path.basename(out)}{_TMP_TAG}{os.getpid() if pid is None else pid}",
    )


def stale_temporaries(output_dir: str) -> List[str]:
    """Temporary files and directories left for ``output_dir`` by runs whose
    process no longer exists (killed runs): sibling ``.NAME.tf-mlm-tmp-PID``
    directories and, from older releases, ``.FILE.tmp-PID`` files inside it.
    A previous dataset moved aside (``-old``) counts only while the output
    directory exists."""
    out = os.path.realpath(output_dir)
    parent, name = os.path.dirname(out), os.path.basename(out)
    pattern = re.compile(rf"^\.{re.escape(name)}{re.escape(_TMP_TAG)}(\d+)(-old)?$")
    found = []
    try:
        siblings = os.listdir(parent)
    except OSError:
        siblings = []
    for entry in siblings:
        m = pattern.match(entry)
        if m and not _pid_alive(int(m.group(1))) and (not m.group(2) or os.path.isdir(out)):
            found.append(os.path.join(parent, entry))
    if os.path.isdir(out):
        for entry in os.listdir(out):
            m = _OLD_TMP_RE.match(entry)
            if m and not _pid_alive(int(m.group(1))):
                found.append(os.path.join(out, entry))
    return found


def remove_path(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def carry_over(old: str, new: str) -> None:
    """Entries of ``old`` other than tf-mlm outputs, hard-linked (else
    copied) into ``new``: ``--overwrite`` keeps the user's other files."""
    for entry in os.listdir(old):
        if (
            is_output_file(entry)
            or _OLD_TMP_RE.match(entry)
            or os.path.exists(os.path.join(new, entry))
        ):
            continue
        src, dst = os.path.join(old, entry), os.path.join(new, entry)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(src, dst)


def visible_entries(out: str) -> List[str]:
    """The entries of the output directory ``out`` but the temporary files
    of older releases."""
    return [n for n in os.listdir(out) if not _OLD_TMP_RE.match(n)]


def discard_previous(path: str) -> None:
    """Deletes the previous dataset once the new one is published (a kill
    meanwhile leaves it as a temporary the next run deletes)."""
    shutil.rmtree(path, ignore_errors=True)


def write_json(path: str, obj) -> None:
    """Writes JSON durably (temporary name, fsync, rename); OutputError on
    failure, the temporary file removed."""
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with output_errors(f"write {path}"):
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(obj, f, indent=2, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
