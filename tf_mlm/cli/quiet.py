"""TensorFlow for the command line, imported when the work needs it and
without its start-up lines.

Importing TensorFlow prints lines on a machine without a GPU that are noise
to a user of ``tf-mlm`` (``WARNING: All log messages before
absl::InitializeLog() ...``, ``Could not find cuda drivers``, oneDNN notes,
``failed call to cuInit``). Some are written before TensorFlow's log level
applies, so besides ``TF_CPP_MIN_LOG_LEVEL=3`` the import runs with the
process's stderr (file descriptor 2) sent to a temporary file; if the import
fails, what it wrote is shown. ``--verbose``, or a ``TF_CPP_MIN_LOG_LEVEL``
of the user's own, keeps every line.
"""

from __future__ import annotations

import os
import sys
import tempfile

# TF_CPP_MIN_LOG_LEVEL as the user's environment had it before tf-mlm ran.
_USER_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")


def quiet_requested(verbose: bool) -> bool:
    """Whether TensorFlow's start-up lines are to be hidden."""
    return not verbose and _USER_LOG_LEVEL is None


def configure(verbose: bool) -> None:
    """Sets TensorFlow's C++ log level for this process (before TensorFlow
    is imported): errors only, unless lines were asked for."""
    if quiet_requested(verbose):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


def import_tensorflow(verbose: bool = False):
    """``import tensorflow``, silently unless ``verbose`` (see the module
    docstring); returns the module."""
    if "tensorflow" in sys.modules or not quiet_requested(verbose):
        import tensorflow

        return tensorflow
    configure(verbose)
    with tempfile.TemporaryFile() as captured:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    _quiet_absl()
    return tensorflow


def _quiet_absl() -> None:
    # absl's Python logger (TensorFlow's Python warnings go through it):
    # errors only, as for the C++ side.
    try:
        from absl import logging as absl_logging
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        return
    absl_logging.set_verbosity(absl_logging.ERROR)
