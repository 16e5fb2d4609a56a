"""The test-binary cache keeps a few entries per name (tests/_build_cache.py)."""

from __future__ import annotations

import os

from tests import _build_cache


def _make(directory, name, age, is_dir=False):
    path = directory / name
    if is_dir:
        path.mkdir()
        (path / "binary").write_text("x")
    else:
        path.write_text("x")
    os.utime(path, (1_000_000 - age, 1_000_000 - age))
    return path


def _key(i):
    return f"{i:016x}"


def test_prune_keeps_the_most_recent_entries_of_the_name(tmp_path):
    entries = [_make(tmp_path, f"core_fuzzer-{_key(i)}", age=i) for i in range(6)]
    others = [
        _make(tmp_path, f"core_fuzzer_x-{_key(9)}", age=100),  # a longer name
        _make(tmp_path, f"vg_masking_test-{_key(9)}", age=100),
        _make(tmp_path, f"core_fuzzer-{_key(7)}.1234.tmp", age=100),  # a build in progress
    ]
    removed = _build_cache.prune(tmp_path, "core_fuzzer", keep=3)
    assert sorted(removed) == sorted(entries[3:])
    assert all(p.exists() for p in entries[:3] + others)


def test_prune_removes_directories_and_spares_the_protected_entry(tmp_path):
    entries = [_make(tmp_path, f"gtest-{_key(i)}", age=i, is_dir=True) for i in range(5)]
    removed = _build_cache.prune(tmp_path, "gtest", keep=1, protect=entries[4])
    assert sorted(removed) == sorted(entries[1:4])
    assert entries[0].is_dir() and entries[4].is_dir()
    assert not any(p.exists() for p in entries[1:4])


def test_entry_marks_reuse_so_a_reused_build_survives(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_MLM_CACHE_DIR", str(tmp_path))
    fuzz = tmp_path / "fuzz"
    fuzz.mkdir()
    old = _make(fuzz, f"h-{_key(0)}", age=1000)
    newer = [_make(fuzz, f"h-{_key(i)}", age=10 - i) for i in range(1, _build_cache.KEEP + 1)]
    assert _build_cache.entry("fuzz", "h", _key(0)) == old
    assert old.exists()  # reused now, so it is the most recent
    assert not newer[0].exists()  # the oldest of the others went
    assert all(p.exists() for p in newer[1:])


def test_entry_of_a_new_key_is_not_created_and_the_cache_stays_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_MLM_CACHE_DIR", str(tmp_path))
    for i in range(10):
        path = _build_cache.entry("cc_tests", "gtest", _key(i))
        assert path == tmp_path / "cc_tests" / f"gtest-{_key(i)}"
        assert not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir()
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    # The next call prunes down to KEEP; the new entry is not there yet.
    _build_cache.entry("cc_tests", "gtest", _key(99))
    left = sorted(p.name for p in (tmp_path / "cc_tests").iterdir())
    assert left == [f"gtest-{_key(i)}" for i in range(10 - _build_cache.KEEP, 10)]
