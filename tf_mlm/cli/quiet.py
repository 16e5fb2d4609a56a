"""TensorFlow for the command line and the benchmark suite, imported when
the work needs it and without its start-up lines.

Importing TensorFlow prints lines on a machine without a GPU that are noise
to a user (``WARNING: All log messages before absl::InitializeLog() ...``,
``Could not find cuda drivers``, oneDNN and CPU-feature notes, ``failed
call to cuInit``). Some are written before TensorFlow's log level applies,
so besides ``TF_CPP_MIN_LOG_LEVEL=3`` the import runs with the process's
stderr (file descriptor 2) held in a temporary file, which is then written
out without those INFO / WARNING lines; anything else passes. Level 3 also
hides TensorFlow's C++ ERROR log lines (``failed call to cuInit`` is one);
failures reach the user as exceptions. ``--verbose``, or a
``TF_CPP_MIN_LOG_LEVEL`` of the user's own, keeps every line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading

# TF_CPP_MIN_LOG_LEVEL as the user's environment had it before tf-mlm ran.
_USER_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")

# What TensorFlow's C++ libraries print while they load: absl's notice and
# absl-format INFO / WARNING lines (I1207 05:31:02.123456  1234 file.cc:31] ...),
# and the continuation line of the CPU-feature notice.
_STARTUP_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*"
    r"|To enable the following instructions: .*, in other operations, rebuild TensorFlow "
    r"with the appropriate compiler flags\."
)


def quiet_requested(verbose: bool) -> bool:
    """Whether TensorFlow's start-up lines are to be hidden."""
    return not verbose and _USER_LOG_LEVEL is None


def configure(verbose: bool) -> None:
    """Sets TensorFlow's C++ log level for this process (before TensorFlow
    is imported): none of its C++ log lines, unless they were asked for."""
    if quiet_requested(verbose):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


# The real stderr while startup_noise_filtered holds file descriptor 2 (a
# duplicate of it), for restore_stderr; the lock orders the two.
_held_stderr = None
_held_lock = threading.Lock()


@contextlib.contextmanager
def startup_noise_filtered():
    """Holds back stderr (file descriptor 2) for the block, then writes it
    out without TensorFlow's start-up noise."""
    global _held_stderr
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        with _held_lock:
            os.dup2(held.fileno(), 2)
            _held_stderr = saved
        try:
            yield
        finally:
            sys.stderr.flush()
            with _held_lock:
                _held_stderr = None
                os.dup2(saved, 2)
                os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines(keepends=True)
            sys.stderr.write("".join(x for x in lines if not _STARTUP_NOISE.fullmatch(x.strip())))
            sys.stderr.flush()


def restore_stderr() -> None:
    """Points file descriptor 2 back at the real stderr if TensorFlow is
    being imported on another thread right now (a message printed on the
    way out, e.g. on Ctrl-C, must not go to the held-back file)."""
    with _held_lock:
        if _held_stderr is not None:
            try:
                os.dup2(_held_stderr, 2)
            except OSError:
                pass


class _NoJaxProfilerNotice(logging.Filter):
    """absl's "Failed to load jax profiler" warning (Keras with JAX
    installed): tf_mlm uses no profiler."""

    def filter(self, record):
        return not record.getMessage().startswith("Failed to load jax profiler")


def import_tensorflow(verbose: bool = False):
    """``import tensorflow``, without its start-up lines unless ``verbose``
    (see the module docstring); returns the module."""
    if "tensorflow" in sys.modules or not quiet_requested(verbose):
        import tensorflow

        return tensorflow
    configure(verbose)
    logging.getLogger("absl").addFilter(_NoJaxProfilerNotice())
    with startup_noise_filtered():
        import tensorflow
    return tensorflow
