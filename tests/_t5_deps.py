"""seqio and t5 for the T5 tests: tests/t5_job.sh installs them and sets
``TF_MLM_T5_TESTS=required``, under which a missing one is an error; in
the main suite (without them) the modules needing them skip."""

import importlib
import os

import pytest

REQUIRED = os.environ.get("TF_MLM_T5_TESTS") == "required"


def t5_dependency(name: str):
    """The module ``name`` (seqio, t5's preprocessors), or a module skip."""
    if REQUIRED:
        return importlib.import_module(name)
    return pytest.importorskip(name, reason=f"{name} is not installed (see tests/t5_job.sh)")
