"""Probe run by tf_mlm's Bazel repository rules with the chosen Python.

Usage: probe.py tf | python | build_defs <path of tf_mlm/_build.py>

Prints records `tf_mlm<TAB>key<TAB>value...`, one a line (Bazel 4.2's
Starlark cannot decode JSON). Nothing here depends on this machine's paths:
everything is asked of the interpreter's installed packages.
"""

import importlib.util
import os
import sys
import sysconfig


def emit(key, *values):
    for v in values:
        if "\t" in str(v) or "\n" in str(v):
            raise SystemExit(f"tf_mlm probe: unsupported character in {key}: {v!r}")
    print("\t".join(["tf_mlm", key, *map(str, values)]))


def probe_tf():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    emit("version", tf.__version__)
    emit("include", tf.sysconfig.get_include())
    emit("lib_dir", tf.sysconfig.get_lib())
    compile_flags = tf.sysconfig.get_compile_flags()
    link_flags = tf.sysconfig.get_link_flags()
    emit("compile_flags", *compile_flags)
    emit("link_flags", *link_flags)
    # The framework library named by the link flags (-l:libtensorflow_framework.so.2).
    names = [f[3:] for f in link_flags if f.startswith("-l:")]
    names += ["lib" + f[2:] + ".so" for f in link_flags
              if f.startswith("-l") and not f.startswith("-l:")]
    if len(names) != 1:
        raise SystemExit(f"tf_mlm probe: expected one library in {link_flags}")
    emit("framework_library", names[0])


def probe_python():
    import pybind11  # pylint: disable=import-outside-toplevel

    emit("version", sysconfig.get_python_version())
    emit("include", sysconfig.get_paths()["include"])
    emit("ext_suffix", sysconfig.get_config_var("EXT_SUFFIX"))
    emit("pybind11_include", pybind11.get_include())
    emit("pybind11_version", pybind11.__version__)


def probe_build_defs(path):
    spec = importlib.util.spec_from_file_location("_tf_mlm_build_for_bazel", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    for name in ("CORE_HEADERS", "TF_SOURCES", "TF_HEADERS", "PY_SOURCES", "PY_HEADERS",
                 "CXXFLAGS", "LIBRARY_NAME"):
        value = getattr(module, name)
        emit(name, *(value if isinstance(value, (list, tuple)) else [value]))


def main(argv):
    what = argv[1] if len(argv) > 1 else ""
    if what == "tf":
        probe_tf()
    elif what == "python":
        probe_python()
    elif what == "build_defs" and len(argv) == 3:
        probe_build_defs(argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main(sys.argv)
