"""Sharded, atomic output of ``tf-mlm mask``.

Record ``k`` of a run goes to shard ``k % num_shards``. Every shard and
``metadata.json`` are written into a hidden sibling of the output directory
(``.NAME.tf-mlm-tmp-PID``), closed, checksummed and fsynced; then one
atomic rename makes the whole dataset visible: onto a missing or empty
output directory, or, with ``overwrite``, swapped with the previous one
(``renameat2(RENAME_EXCHANGE)``), whose files are then deleted. So the
output directory holds either the complete previous dataset or the
complete new one, never a mix, whenever the run is interrupted or killed.
Temporary directories of a killed run (their PID no longer running) are
deleted by the next run on the same output.

``metadata.json`` lists every shard with its record count, size and
SHA-256 (``shard_info``): :func:`tf_mlm.pretraining.inspect.verify_output`
checks them.

Errors of the environment (disk full, quota, read-only file system, file
too large, ...) raise :class:`OutputError` naming the OS's reason; nothing
is published then.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gzip
import hashlib
import json
import os
import re
import shutil
import threading
from typing import Dict, List, Optional

import numpy as np

from tf_mlm.pretraining.readers import InputError

FORMATS = ("tfrecord", "jsonl")
COMPRESSIONS = ("", "gzip")
METADATA = "metadata.json"
SHARD_PREFIX = "masked"
_SHARD_RE = re.compile(rf"^{SHARD_PREFIX}-\d{{5}}-of-\d{{5}}\.(tfrecord|jsonl)(\.gz)?$")
INT_FEATURES = ("input_ids", "input_mask", "masked_lm_positions", "masked_lm_ids")
# Temporary sibling directories: .NAME.tf-mlm-tmp-PID (and -old while the
# fallback publishing moves a previous dataset away).
_TMP_TAG = ".tf-mlm-tmp-"
# Temporary files of releases that wrote inside the output directory.
_OLD_TMP_RE = re.compile(r"^\..+\.tmp-(\d+)$")


class OutputError(Exception):
    """The output cannot be written (an environment error: disk full,
    quota, read-only file system, ...): the message names the path and the
    OS's reason, and is meant to be shown to the user as is."""


def feature_spec(max_seq_length: int, max_predictions_per_seq: int) -> Dict:
    """The ``tf.io.parse_example`` spec of the TFRecord output (BERT's
    feature names and types).

    >>> spec = feature_spec(128, 20)
    >>> sorted(spec)
    ['input_ids', 'input_mask', 'masked_lm_ids', 'masked_lm_positions', 'masked_lm_weights']
    >>> spec["masked_lm_weights"]
    FixedLenFeature(shape=[20], dtype=tf.float32, default_value=None)
    """
    import tensorflow as tf

    seq, pred = [max_seq_length], [max_predictions_per_seq]
    return {
        "input_ids": tf.io.FixedLenFeature(seq, tf.int64),
        "input_mask": tf.io.FixedLenFeature(seq, tf.int64),
        "masked_lm_positions": tf.io.FixedLenFeature(pred, tf.int64),
        "masked_lm_ids": tf.io.FixedLenFeature(pred, tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature(pred, tf.float32),
    }


def shard_names(num_shards: int, fmt: str, compression: str = "") -> List[str]:
    """>>> shard_names(2, "jsonl")
    ['masked-00000-of-00002.jsonl', 'masked-00001-of-00002.jsonl']
    """
    suffix = "." + fmt + (".gz" if compression == "gzip" else "")
    return [f"{SHARD_PREFIX}-{k:05d}-of-{num_shards:05d}{suffix}" for k in range(num_shards)]


def is_output_file(name: str) -> bool:
    """Whether ``name`` is a shard or metadata file this module writes."""
    return name == METADATA or is_shard_name(name)


def is_shard_name(name: str) -> bool:
    """Whether ``name`` is named like a shard this module writes."""
    return bool(_SHARD_RE.match(name))


def example_bytes(element: Dict) -> bytes:
    """A serialized ``tf.train.Example`` of one padded output record, with
    its features in sorted order (deterministic across processes)."""
    import tensorflow as tf

    feature = {
        name: tf.train.Feature(int64_list=tf.train.Int64List(value=element[name].tolist()))
        for name in INT_FEATURES
    }
    feature["masked_lm_weights"] = tf.train.Feature(
        float_list=tf.train.FloatList(value=element["masked_lm_weights"].tolist())
    )
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(
        deterministic=True
    )


def json_line(element: Dict) -> str:
    """One JSON Lines output record (unpadded)."""
    return (
        json.dumps(
            {
                name: np.asarray(element[name]).tolist()
                for name in ("input_ids", "masked_lm_positions", "masked_lm_ids")
            },
            separators=(",", ":"),
        )
        + "\n"
    )


# -- errors -------------------------------------------------------------------

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
def _output_errors(what: str):
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


# -- atomic directory publishing ---------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: str, b: str) -> bool:
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


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _digest_and_sync(path: str) -> Dict:
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


def _remove(path: str) -> None:
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


def _carry_over(old: str, new: str) -> None:
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


_ACTIVE_LOCK = threading.Lock()
_ACTIVE: List["ShardedWriter"] = []


_CANCELLED = False


def cancel_all(timeout: float = 1.0) -> List[str]:
    """Cancels every writer of this process, for a signal handler running
    on another thread than the writing one; writers opened afterwards
    refuse to start (the process is expected to exit). Returns each open
    writer's state: ``"removed"`` (not published; its temporary directory
    deleted), ``"published"`` (it had published already), ``"busy"`` (it
    was publishing and did not finish within ``timeout`` seconds; what it
    leaves is deleted by the next run)."""
    global _CANCELLED
    with _ACTIVE_LOCK:
        _CANCELLED = True
        active = list(_ACTIVE)
    return [w.cancel(timeout) for w in active]


class ShardedWriter:
    """Writes records round-robin to ``num_shards`` files in a temporary
    directory; use as a context manager, and call :meth:`commit` inside it
    to publish them (see the module's docstring).

    Args:
      output_dir: must be missing, empty, or (with ``overwrite``) any
        directory: its previous shards and metadata are then replaced as a
        whole at commit; its other files are kept (hard-linked into the new
        directory).
      fmt: ``"tfrecord"`` or ``"jsonl"``.
      compression: ``""`` or ``"gzip"`` (gzip headers carry no time and no
        name: the same records give the same bytes).
    """

    def __init__(
        self,
        output_dir: str,
        num_shards: int = 1,
        fmt: str = "tfrecord",
        compression: str = "",
        overwrite: bool = False,
    ):
        if fmt not in FORMATS:
            raise ValueError(f"output format must be one of {FORMATS}, got {fmt!r}")
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        if num_shards < 1:
            raise ValueError(f"number of shards must be >= 1, got {num_shards}")
        self.output_dir = output_dir
        # A symlinked output directory: the dataset goes where it points.
        self._out = os.path.realpath(output_dir)
        self.num_shards = num_shards
        self.fmt = fmt
        self.compression = compression
        self.overwrite = overwrite
        self.final_names = shard_names(num_shards, fmt, compression)
        self.tmp_dir = temporary_dir(output_dir)
        self._files: List = []
        self._count = 0
        self._lock = threading.Lock()
        self._cancelled = False
        self._committed = False
        self._created_tmp = False
        self._io_errors: tuple = (OSError,)

    def __enter__(self) -> "ShardedWriter":
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._committed:
            self.abort()
        with _ACTIVE_LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)

    @property
    def records(self) -> int:
        return self._count

    def open(self) -> None:
        """Checks the output directory, deletes stale temporaries of killed
        runs, and opens the shards in the temporary directory (on failure,
        nothing of this run is left)."""
        try:
            self._open()
        except BaseException:
            self.abort()
            with _ACTIVE_LOCK:
                if self in _ACTIVE:
                    _ACTIVE.remove(self)
            raise

    def _open(self) -> None:
        out = self._out
        if os.path.lexists(out) and not os.path.isdir(out):
            raise InputError(f"output {self.output_dir} exists and is not a directory")
        for path in stale_temporaries(out):
            _remove(path)
        if os.path.isdir(out):
            if os.path.ismount(out):
                raise InputError(
                    f"output directory {self.output_dir} is a mount point: the "
                    "dataset is published by renaming a directory onto it; give "
                    "a directory inside it"
                )
            if not self.overwrite and self._listdir(out):
                raise InputError(
                    f"output directory {self.output_dir} already exists and is not "
                    "empty (use --overwrite to replace its shards)"
                )
        with _ACTIVE_LOCK:
            if _CANCELLED:
                raise KeyboardInterrupt
            _ACTIVE.append(self)
        with self._lock:
            if self._cancelled:
                raise KeyboardInterrupt
            if os.path.lexists(self.tmp_dir):  # ours by PID, hence stale
                _remove(self.tmp_dir)
            with _output_errors(f"create a temporary directory beside {self.output_dir}"):
                os.makedirs(os.path.dirname(out), exist_ok=True)
                os.mkdir(self.tmp_dir)
            self._created_tmp = True
        import tensorflow as tf

        self._io_errors = (OSError, tf.errors.OpError)
        with _output_errors(f"write to {self.tmp_dir}"):
            for name in self.final_names:
                path = os.path.join(self.tmp_dir, name)
                if self.fmt == "tfrecord":
                    options = tf.io.TFRecordOptions(compression_type=self.compression.upper())
                    self._files.append((tf.io.TFRecordWriter(path, options),))
                    continue
                raw = open(path, "wb")
                if self.compression == "gzip":
                    # No name and no time in the header: reproducible bytes.
                    self._files.append(
                        (gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0), raw)
                    )
                else:
                    self._files.append((raw,))

    @staticmethod
    def _listdir(out: str) -> List[str]:
        return [n for n in os.listdir(out) if not _OLD_TMP_RE.match(n)]

    def write(self, element: Dict) -> None:
        """Appends one record (a dict of NumPy arrays from the pipeline)."""
        k = self._count % self.num_shards
        data = (
            example_bytes(element) if self.fmt == "tfrecord" else json_line(element).encode("utf-8")
        )
        try:
            self._files[k][0].write(data)
        except self._io_errors as e:
            path = os.path.join(self.tmp_dir, self.final_names[k])
            raise OutputError(f"cannot write {path}: {os_reason(e)}") from None
        self._count += 1

    def _close_files(self) -> None:
        """Closes every shard; raises OutputError for the first that fails
        (after trying all)."""
        files, self._files = self._files, []
        first = None
        for name, layers in zip(self.final_names, files):
            for f in layers:  # the gzip layer, then its file
                try:
                    with _output_errors(f"write {os.path.join(self.tmp_dir, name)}"):
                        f.close()
                except OutputError as e:
                    first = first or e
        if first is not None:
            raise first

    def cancel(self, timeout: float = 1.0) -> str:
        """Stops this writer from publishing (from another thread); see
        :func:`cancel_all` for the states returned."""
        if not self._lock.acquire(timeout=timeout):
            return "busy"
        try:
            self._cancelled = True
            if self._committed:
                return "published"
            if self._created_tmp:
                shutil.rmtree(self.tmp_dir, ignore_errors=True)
            return "removed"
        finally:
            self._lock.release()

    def abort(self) -> None:
        """Deletes the temporary directory (after closing the shards, errors
        ignored: the run is failing already)."""
        with contextlib.suppress(Exception):
            self._close_files()
        with self._lock:
            if self._created_tmp and not self._committed:
                shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def commit(self, metadata: Optional[Dict] = None) -> None:
        """Closes, checksums and fsyncs the shards, writes ``metadata.json``
        (with ``shard_info``) beside them, and publishes the directory with
        one atomic rename."""
        self._close_files()
        info = []
        for k, name in enumerate(self.final_names):
            path = os.path.join(self.tmp_dir, name)
            with _output_errors(f"write {path}"):
                entry = {
                    "name": name,
                    "records": self._count // self.num_shards
                    + (1 if k < self._count % self.num_shards else 0),
                }
                entry.update(_digest_and_sync(path))
            info.append(entry)
        if metadata is not None:
            metadata = dict(metadata, shard_info=info)
            write_json(os.path.join(self.tmp_dir, METADATA), metadata)
        with _output_errors(f"write {self.tmp_dir}"):
            _fsync_dir(self.tmp_dir)
        self._publish()

    def _publish(self) -> None:
        out, tmp = self._out, self.tmp_dir
        with self._lock:
            if self._cancelled:
                raise KeyboardInterrupt
            with _output_errors(f"publish {self.output_dir}"):
                if os.path.isdir(out) and self._listdir(out):
                    if not self.overwrite:
                        raise InputError(
                            f"output directory {self.output_dir} is no longer "
                            "empty (another process wrote to it)"
                        )
                    _carry_over(out, tmp)
                    _fsync_dir(tmp)
                    if _exchange(tmp, out):
                        old = tmp  # now holds the previous dataset
                    else:
                        old = tmp + "-old"
                        os.rename(out, old)
                        os.rename(tmp, out)
                else:
                    old = None
                    if os.path.isdir(out):
                        for leftover in os.listdir(out):  # old-release temporaries
                            _remove(os.path.join(out, leftover))
                    os.replace(tmp, out)
                self._committed = True
                _fsync_dir(os.path.dirname(out))
        if old is not None:
            _discard_previous(old)


def _discard_previous(path: str) -> None:
    """Deletes the previous dataset once the new one is published (a kill
    meanwhile leaves it as a temporary the next run deletes)."""
    shutil.rmtree(path, ignore_errors=True)


def write_json(path: str, obj) -> None:
    """Writes JSON durably (temporary name, fsync, rename); OutputError on
    failure, the temporary file removed."""
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with _output_errors(f"write {path}"):
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(obj, f, indent=2, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
