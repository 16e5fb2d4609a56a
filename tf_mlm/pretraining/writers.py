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

This module holds :class:`ShardedWriter` and the cancellation of the
writers of a process; the records and file names are
:mod:`~tf_mlm.pretraining.records`' and the file-system steps of publishing
:mod:`~tf_mlm.pretraining.publishing`' (their names still import from here).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import threading
from typing import Dict, List, Optional

from tf_mlm.pretraining import publishing
from tf_mlm.pretraining.publishing import (  # noqa: F401  (re-exported)
    OutputError,
    os_reason,
    stale_temporaries,
    temporary_dir,
    write_json,
)
from tf_mlm.pretraining.readers import InputError
from tf_mlm.pretraining.records import (  # noqa: F401  (re-exported)
    COMPRESSIONS,
    FORMATS,
    INT_FEATURES,
    METADATA,
    SHARD_PREFIX,
    SPAN_FEATURES,
    example_bytes,
    feature_spec,
    is_output_file,
    is_shard_name,
    json_line,
    shard_names,
    span_feature_spec,
)

# The steps of commit() that a run may be held inside (a test signals it
# there: tests/_slow_publish_child.py), called through these names.
_digest_and_sync = publishing.digest_and_sync
_exchange = publishing.exchange
_discard_previous = publishing.discard_previous

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


@contextlib.contextmanager
def cancellable(job):
    """Lets :func:`cancel_all` cancel ``job`` (any object with a
    ``cancel(timeout) -> state`` method, as :meth:`ShardedWriter.cancel`)
    while inside; KeyboardInterrupt when the process is being cancelled."""
    with _ACTIVE_LOCK:
        if _CANCELLED:
            raise KeyboardInterrupt
        _ACTIVE.append(job)
    try:
        yield job
    finally:
        with _ACTIVE_LOCK:
            if job in _ACTIVE:
                _ACTIVE.remove(job)


def check_output_dir(output_dir: str, overwrite: bool = False) -> None:
    """Raises :class:`InputError` when ``output_dir`` cannot take a new
    dataset: a file, a mount point, or (without ``overwrite``) a non-empty
    directory. :class:`ShardedWriter` checks this when it opens; the command
    line also checks it first, before any work."""
    out = os.path.realpath(output_dir)
    if os.path.lexists(out) and not os.path.isdir(out):
        raise InputError(f"output {output_dir} exists and is not a directory")
    if not os.path.isdir(out):
        return
    if os.path.ismount(out):
        raise InputError(
            f"output directory {output_dir} is a mount point: the dataset is published by "
            "renaming a directory onto it; give a directory inside it"
        )
    if not overwrite and publishing.visible_entries(out):
        raise InputError(
            f"output directory {output_dir} already exists and is not empty (use "
            "--overwrite to replace its shards)"
        )


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
        check_output_dir(self.output_dir, self.overwrite)
        for path in stale_temporaries(out):
            publishing.remove_path(path)
        with _ACTIVE_LOCK:
            if _CANCELLED:
                raise KeyboardInterrupt
            _ACTIVE.append(self)
        with self._lock:
            if self._cancelled:
                raise KeyboardInterrupt
            if os.path.lexists(self.tmp_dir):  # ours by PID, hence stale
                publishing.remove_path(self.tmp_dir)
            with publishing.output_errors(f"create a temporary directory beside {self.output_dir}"):
                os.makedirs(os.path.dirname(out), exist_ok=True)
                os.mkdir(self.tmp_dir)
            self._created_tmp = True
        import tensorflow as tf

        self._io_errors = (OSError, tf.errors.OpError)
        with publishing.output_errors(f"write to {self.tmp_dir}"):
            for name in self.final_names:
                path = os.path.join(self.tmp_dir, name)
                self._files.append(open_shard(path, self.fmt, self.compression))

    def write(self, element: Dict) -> None:
        """Appends one record (a dict of NumPy arrays from the pipeline)."""
        k = self._count % self.num_shards
        data = record_bytes(element, self.fmt)
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
                    with publishing.output_errors(f"write {os.path.join(self.tmp_dir, name)}"):
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
            with publishing.output_errors(f"write {path}"):
                entry = {"name": name, "records": shard_records(self._count, self.num_shards, k)}
                entry.update(_digest_and_sync(path))
            info.append(entry)
        if metadata is not None:
            metadata = dict(metadata, shard_info=info)
            write_json(os.path.join(self.tmp_dir, METADATA), metadata)
        with publishing.output_errors(f"write {self.tmp_dir}"):
            publishing.fsync_dir(self.tmp_dir)
        self._publish()

    def _publish(self) -> None:
        with self._lock:
            if self._cancelled:
                raise KeyboardInterrupt
            old = publish_directory(self.tmp_dir, self.output_dir, self.overwrite)
            self._committed = True
        if old is not None:
            _discard_previous(old)


def publish_directory(tmp: str, output_dir: str, overwrite: bool) -> Optional[str]:
    """Makes the complete dataset in the directory ``tmp`` (a sibling of
    ``output_dir``) visible as ``output_dir`` with one atomic rename (see
    the module's docstring); returns the directory now holding the previous
    dataset, for the caller to delete (None when there was none)."""
    out = os.path.realpath(output_dir)
    with publishing.output_errors(f"publish {output_dir}"):
        if os.path.isdir(out) and publishing.visible_entries(out):
            if not overwrite:
                raise InputError(
                    f"output directory {output_dir} is no longer "
                    "empty (another process wrote to it)"
                )
            publishing.carry_over(out, tmp)
            publishing.fsync_dir(tmp)
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
                    publishing.remove_path(os.path.join(out, leftover))
            os.replace(tmp, out)
        publishing.fsync_dir(os.path.dirname(out))
    return old


def open_shard(path: str, fmt: str, compression: str = "") -> tuple:
    """One shard file opened for writing, as its layers (the outer one
    first: ``layers[0].write(record_bytes(...))``, then close every layer
    in order). TFRecords through TensorFlow's writer; JSON Lines gzipped
    with no name and no time in the header (reproducible bytes)."""
    if fmt == "tfrecord":
        import tensorflow as tf

        options = tf.io.TFRecordOptions(compression_type=compression.upper())
        return (tf.io.TFRecordWriter(path, options),)
    raw = open(path, "wb")
    if compression == "gzip":
        return (gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0), raw)
    return (raw,)


def record_bytes(element: Dict, fmt: str) -> bytes:
    """One output record (a dict of NumPy arrays from the pipeline) as the
    bytes a shard of ``fmt`` holds for it."""
    return example_bytes(element) if fmt == "tfrecord" else json_line(element).encode("utf-8")


def shard_records(total: int, num_shards: int, shard: int) -> int:
    """How many of ``total`` records are in ``shard`` (record k in shard
    k % num_shards).

    >>> [shard_records(7, 3, k) for k in range(3)]
    [3, 2, 2]
    """
    return total // num_shards + (1 if shard < total % num_shards else 0)
