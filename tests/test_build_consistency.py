"""The pip build and the Bazel build compile the same sources with the same flags.

Bazel reads the lists from tf_mlm/_build.py (through the repository rule in
third_party/configure.bzl and third_party/probe.py), so they agree by
construction; these tests check that construction:

* always: the probe reports exactly _build.py's lists, and the BUILD files
  name no source or flag of their own;
* with ``TF_MLM_BAZEL`` set to the bazel command of a built workspace (e.g.
  ``bazel --output_user_root=$PWD/.bazel-cache``, as .ci/bazel.sh does):
  the compile and link commands Bazel actually runs (``bazel aquery``)
  contain every pip-build flag and TensorFlow flag, on exactly the pip
  build's sources;
* with ``TF_MLM_OPS_LIBRARY`` set: tf_mlm loaded that library.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tf_mlm import _build

ROOT = Path(__file__).resolve().parent.parent


def _probe_build_defs() -> dict:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "third_party" / "probe.py"),
            "build_defs",
            str(ROOT / "tf_mlm" / "_build.py"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    records = {}
    for line in out.splitlines():
        fields = line.split("\t")
        if fields[0] == "tf_mlm":
            records[fields[1]] = fields[2:]
    return records


def test_bazel_probe_reports_build_py_lists():
    records = _probe_build_defs()
    assert records["CORE_HEADERS"] == list(_build.CORE_HEADERS)
    assert records["TF_SOURCES"] == list(_build.TF_SOURCES)
    assert records["TF_HEADERS"] == list(_build.TF_HEADERS)
    assert records["PY_SOURCES"] == list(_build.PY_SOURCES)
    assert records["PY_HEADERS"] == list(_build.PY_HEADERS)
    assert records["CXXFLAGS"] == list(_build.CXXFLAGS)
    assert records["LIBRARY_NAME"] == [_build.LIBRARY_NAME]


def test_build_files_take_sources_and_flags_from_build_py():
    build = (ROOT / "BUILD").read_text()
    code = "\n".join(l.split("#", 1)[0] for l in build.splitlines())  # comments out
    assert re.search(r'load\("@tf_mlm_build_defs//:defs.bzl"', code)
    for name in (
        "TF_SOURCES",
        "TF_HEADERS",
        "PY_SOURCES",
        "PY_HEADERS",
        "CORE_HEADERS",
        "CXXFLAGS",
        "LIBRARY_NAME",
    ):
        assert name in code, name
    # No source file or compiler flag spelled out by hand.
    assert not re.search(r'"cc/[^"]*"', code), "BUILD lists a cc/ file itself"
    assert not re.search(r'"-[A-Za-z]', code), "BUILD sets a compiler flag itself"


def test_core_headers_are_complete():
    """Every header of the core is in CORE_HEADERS: Bazel's sandbox (and the
    sdist's copy of the sources) see only the listed ones."""
    on_disk = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "cc" / "core").glob("*.h"))
    assert sorted(_build.CORE_HEADERS) == on_disk
    py_sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "cc" / "py").glob("*"))
    assert sorted(_build.PY_SOURCES + _build.PY_HEADERS) == py_sources
    tf_sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "cc" / "tf").glob("*"))
    assert sorted(_build.TF_SOURCES + _build.TF_HEADERS) == tf_sources


def _bazel() -> list:
    cmd = os.environ.get("TF_MLM_BAZEL")
    if not cmd:
        pytest.skip(
            "set TF_MLM_BAZEL to the bazel command of a built workspace (e.g. "
            "'bazel --output_user_root=$PWD/.bazel-cache') to compare the actual "
            "Bazel command lines; .ci/bazel.sh does"
        )
    return shlex.split(cmd)


def _aquery(target: str) -> list:
    proc = subprocess.run(
        [*_bazel(), "aquery", f'mnemonic("CppCompile|CppLink", {target})', "--output=jsonproto"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)["actions"]


def _contains_run(args: list, run: list) -> bool:
    return any(args[i : i + len(run)] == run for i in range(len(args) - len(run) + 1))


def _compiles(actions: list) -> dict:
    """Source -> arguments, for the PIC compiles (those a shared library links)."""
    out = {}
    for a in actions:
        args = a["arguments"]
        if a["mnemonic"] == "CppCompile" and args[args.index("-o") + 1].endswith(".pic.o"):
            out[args[args.index("-c") + 1]] = args
    return out


def _tf_info() -> _build.TFInfo:
    return _build.TFInfo.from_running_tensorflow()


def test_bazel_op_library_matches_pip_build():
    actions = _aquery(f"//:{_build.LIBRARY_NAME}")
    compiles = _compiles(actions)
    assert sorted(compiles) == sorted(_build.TF_SOURCES)
    info = _tf_info()
    for src, args in compiles.items():
        # _build.build_op_library: [cxx, *CXXFLAGS, *tf compile flags, -I<root>, -c, src]
        assert _contains_run(args, list(_build.CXXFLAGS)), (src, args)
        for flag in info.compile_flags:
            if flag.startswith("-I"):  # TF's include dir, as a declared Bazel input
                assert "external/local_config_tf/include" in args, (src, args)
            else:
                assert flag in args, (flag, src, args)
    (link,) = [a["arguments"] for a in actions if a["mnemonic"] == "CppLink"]
    for flag in info.link_flags:
        if flag.startswith("-l"):
            assert flag in link, (flag, link)


def test_bazel_python_module_matches_pip_build():
    actions = _aquery("//:all")
    py = {src: args for src, args in _compiles(actions).items() if src in _build.PY_SOURCES}
    assert sorted(py) == sorted(_build.PY_SOURCES)
    for args in py.values():
        assert _contains_run(args, list(_build.CXXFLAGS)), args


def test_loaded_library_is_the_requested_one():
    path = os.environ.get("TF_MLM_OPS_LIBRARY")
    if not path:
        pytest.skip("TF_MLM_OPS_LIBRARY is not set")
    from tf_mlm._tf import library as _library

    assert os.path.realpath(_library.get_library_path()) == os.path.realpath(path)


def test_bazel_python_module_imports_like_pip_one():
    _bazel()  # only for a built workspace
    import importlib.util
    import sysconfig

    path = ROOT / "bazel-bin" / ("_core" + sysconfig.get_config_var("EXT_SUFFIX"))
    assert path.is_file(), path
    spec = importlib.util.spec_from_file_location("_core", path)
    bazel_core = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bazel_core)
    from tf_mlm import _core as pip_core

    def public(m):
        return sorted(n for n in dir(m) if not n.startswith("__"))

    assert public(bazel_core) == public(pip_core)
