"""pip build of tf_mlm.

Two binaries:
* ``tf_mlm/_tf_mlm_ops.so``: the TensorFlow op library, compiled against the
  TensorFlow of the *target* environment. pip builds in an isolated
  environment that cannot see it, so tf_mlm/_build.py asks the target
  interpreter in a child process with the isolation variables removed. When
  no TensorFlow is found, nothing is compiled here and tf_mlm builds the
  library on first import instead (see tf_mlm/_tf/library.py).
* ``tf_mlm/_core``: the pybind11 module over the same C++ core, no TensorFlow.
"""

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _load_build_module():
    spec = importlib.util.spec_from_file_location("_tf_mlm_build", ROOT / "tf_mlm" / "_build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_build = _load_build_module()


class BuildPy(build_py):
    """Also ships the C++ sources, so an installed tf_mlm can rebuild its op
    library when TensorFlow changes under it."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the repository itself holds the sources
        dest = Path(self.build_lib) / "tf_mlm" / "_src"
        for rel in _build.CORE_HEADERS + _build.TF_HEADERS + _build.TF_SOURCES:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)


class BuildExt(build_ext):
    """Builds the pybind11 extension, then the TF op library beside it."""

    def run(self):
        super().run()
        out_dir = Path(self.get_ext_fullpath("tf_mlm._core")).parent
        if os.environ.get("TF_MLM_SKIP_TF_OPS"):
            return  # only the pybind11 module (e.g. `setup.py build_ext --inplace`)
        info = _build.probe_tensorflow(sys.executable)
        if info is None:
            print(
                "tf_mlm: TensorFlow is not installed in the target environment; the op "
                "library will be built on first `import tf_mlm` after TensorFlow is installed.",
                file=sys.stderr,
            )
            return
        print(f"tf_mlm: building the op library against TensorFlow {info.version}", file=sys.stderr)
        _build.build_op_library(ROOT, out_dir, info, verbose=True)


def _extensions():
    from pybind11.setup_helpers import Pybind11Extension

    return [
        Pybind11Extension(
            "tf_mlm._core",
            sources=[str(s) for s in _build.PY_SOURCES],
            include_dirs=[str(ROOT)],
            depends=list(_build.CORE_HEADERS + _build.PY_HEADERS),
            extra_compile_args=[f for f in _build.CXXFLAGS if f not in ("-fvisibility=hidden",)],
            cxx_std=17,
        )
    ]


setup(ext_modules=_extensions(), cmdclass={"build_py": BuildPy, "build_ext": BuildExt})
