"""Fault injection on `tf-mlm mask`: whatever goes wrong (a signal or a kill
at any moment of publishing, a file-size limit, a full or read-only file
system, a stalled stdin), the output directory holds a complete dataset,
the previous one or the new one, that `tf-mlm inspect` verifies, or nothing
that it passes; temporaries of a killed run are deleted by the next run.

Signals go to real `tf-mlm` processes (tests/_slow_publish_child.py holds
them inside the publishing step a test targets until they are signalled, so
each signal lands inside that step: no timing race). Write errors are
injected in process (RLIMIT_FSIZE, tmpfs mounts).
"""

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests import _subprocess_utils as sp
from tf_mlm import cli
from tf_mlm.pretraining import inspect, writers

VOCAB = 200
N = 400
CHILD = str(sp.TESTS_DIR / "_slow_publish_child.py")


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    rng = np.random.default_rng(21)
    path = tmp_path_factory.mktemp("faults") / "seqs.txt"
    path.write_text(
        "".join(
            " ".join(
                map(str, [2] + rng.integers(5, VOCAB, size=int(rng.integers(4, 60))).tolist() + [3])
            )
            + "\n"
            for _ in range(N)
        )
    )
    return path


def _argv(text, out, *extra):
    return [
        "mask",
        str(text),
        "-o",
        str(out),
        "--vocab-size",
        str(VOCAB),
        "--mask-token",
        "4",
        "--max-seq-length",
        "64",
        "--progress",
        "none",
        *extra,
    ]


def _mask(text, out, *extra):
    return cli.main(_argv(text, out, *extra))


def _seed_of(out):
    """The seed of the complete dataset in ``out`` (verified), or None when
    `inspect` would fail on it."""
    try:
        meta = inspect.verify_output(str(out))
    except inspect.DatasetError:
        return None
    assert len(list(inspect.read_records(str(out)))) == meta["records"] == N
    return meta["masking"]["seed"]


def _temporaries(out):
    return [n for n in os.listdir(out.parent) if n.startswith(f".{out.name}.tf-mlm-tmp-")]


def _inspect_status(out, capsys):
    status = cli.main(["inspect", str(out), "-n", "0"])
    capsys.readouterr()
    return status


# -- signals and kills while publishing ---------------------------------------


def _held_run(text, out, hold_dir, step, signum, *extra):
    """Runs `tf-mlm mask` held inside ``step`` (tests/_slow_publish_child.py),
    sends ``signum`` there, and returns the exit status and the output."""
    hold_dir.mkdir()
    env = sp.child_env(TF_MLM_HOLD_STEPS=step, TF_MLM_HOLD_DIR=str(hold_dir))
    proc = subprocess.Popen(
        [sys.executable, CHILD, *_argv(text, out, *extra)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (hold_dir / step).exists():
            assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signum)
        output = proc.communicate(timeout=30)[0].decode()
        return proc.returncode, output
    finally:
        (hold_dir / "release").touch()
        sp.stop(proc)


@pytest.mark.slow
@pytest.mark.parametrize("step", ["sync", "swap", "discard"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
def test_signal_while_publishing_leaves_old_or_new_dataset(text, tmp_path, capsys, step, signum):
    out = tmp_path / "out"
    assert _mask(text, out, "--num-shards", "3", "--seed", "1") == 0
    status, output = _held_run(
        text,
        out,
        tmp_path / "hold",
        step,
        signum,
        "--num-shards",
        "2",
        "--seed",
        "2",
        "--overwrite",
    )
    if signum == signal.SIGINT:
        assert status == 130, output[-2000:]
        assert "tf-mlm mask: interrupted" in output and "Traceback" not in output
    else:
        assert status == -signal.SIGKILL
    # Before the swap the old dataset is intact, after it the new one is
    # complete; never a mix, and inspect agrees.
    assert _seed_of(out) == (2 if step == "discard" else 1)
    assert _inspect_status(out, capsys) == 0
    if signum == signal.SIGINT and step == "sync":
        assert _temporaries(out) == []  # removed on the way out
    # The next run deletes whatever the interrupted one left.
    assert _mask(text, out, "--seed", "3", "--overwrite") == 0
    assert _temporaries(out) == [] and _seed_of(out) == 3


@pytest.mark.slow
def test_kill_of_a_first_run_leaves_nothing_and_the_rerun_cleans_up(text, tmp_path, capsys):
    out = tmp_path / "out"
    status, _ = _held_run(text, out, tmp_path / "hold", "sync", signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert not out.exists() and len(_temporaries(out)) == 1
    assert _inspect_status(out, capsys) == 2  # no such file
    # No --overwrite needed: the leftover is not content, and it is deleted.
    assert _mask(text, out) == 0
    assert _temporaries(out) == [] and _seed_of(out) == 12345


def _stdin_run(out, signum):
    """A `tf-mlm mask -` whose stdin stays open after a few lines (a stalled
    producer), signalled once its temporary directory exists."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tf_mlm.cli",
            "mask",
            "-",
            "-o",
            str(out),
            "--vocab-size",
            str(VOCAB),
            "--mask-token",
            "4",
            "--progress",
            "none",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=sp.child_env(),
        start_new_session=True,
    )
    try:
        proc.stdin.write(b"2 7 8 9 3\n" * 50)
        proc.stdin.flush()
        deadline = time.monotonic() + 120
        while not _temporaries(out):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signum)
        # The old reader ignored signals until stdin closed: never here.
        status = proc.wait(timeout=15)
        return status, proc.stderr.read().decode()
    finally:
        sp.stop(proc)
        proc.stdin.close()


@pytest.mark.slow
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stalled_stdin_signal_ends_the_run(tmp_path, capsys, signum, status):
    out = tmp_path / "out"
    got, err = _stdin_run(out, signum)
    assert got == status, err[-2000:]
    assert "tf-mlm mask: interrupted; nothing was published" in err and "Traceback" not in err
    assert not out.exists() and _temporaries(out) == []
    assert _inspect_status(out, capsys) == 2


# -- write errors ---------------------------------------------------------------


@contextlib.contextmanager
def _file_size_limit(nbytes):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.parametrize(
    "fmt", [("tfrecord", "none"), ("tfrecord", "gzip"), ("jsonl", "gzip"), ("jsonl", "none")]
)
def test_file_size_limit_fails_and_publishes_nothing(text, tmp_path, capsys, fmt):
    """A write that fails at the last byte (as a quota or an NFS write-back
    error surfaces at close) fails the run; the old dataset stays."""
    out, ref = tmp_path / "out", tmp_path / "ref"
    options = ("--output-format", fmt[0], "--compression", fmt[1])
    assert _mask(text, out, *options, "--seed", "1") == 0
    assert _mask(text, ref, *options, "--seed", "2") == 0
    shard = writers.shard_names(1, fmt[0], "" if fmt[1] == "none" else "gzip")[0]
    capsys.readouterr()
    size = (ref / shard).stat().st_size  # the same run gives the same bytes
    with _file_size_limit(size - 1):
        status = _mask(text, out, *options, "--seed", "2", "--overwrite")
    err = capsys.readouterr().err
    assert status == 1, err
    assert err.count("\n") == 1 and "File too large (EFBIG)" in err and shard in err
    assert _seed_of(out) == 1 and _temporaries(out) == []


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(options)`` of a tmpfs at the yielded directory, or a skip
    where mounting is not allowed; unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()

    def mount(options):
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode:
            pytest.skip(f"cannot mount a tmpfs here (needs CAP_SYS_ADMIN): {r.stderr.strip()}")

    yield mnt, mount
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def test_disk_full_fails_with_the_reason_and_publishes_nothing(text, tmp_path, tmpfs, capsys):
    mnt, mount = tmpfs
    mount("size=64k")
    out = mnt / "out"
    assert _mask(text, out) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device (ENOSPC)" in err
    assert os.listdir(mnt) == []
    assert _inspect_status(out, capsys) == 2


def test_disk_full_at_metadata_publishes_nothing(text, tmp_path, tmpfs, capsys):
    """Room for the shard but not for metadata.json (tmpfs counts pages)."""
    mnt, mount = tmpfs
    ref = tmp_path / "ref"
    options = ("--output-format", "jsonl", "--compression", "gzip")
    assert _mask(text, ref, *options) == 0
    size = (ref / "masked-00000-of-00001.jsonl.gz").stat().st_size
    mount(f"size={-(-size // 4096) * 4096}")
    out = mnt / "out"
    assert _mask(text, out, *options) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metadata.json" in err and "(ENOSPC)" in err
    assert os.listdir(mnt) == []


def test_read_only_file_system(text, tmp_path, tmpfs, capsys):
    mnt, mount = tmpfs
    mount("size=1m")
    out = mnt / "out"
    assert _mask(text, out, "--seed", "1") == 0
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    capsys.readouterr()
    for target, extra in ((out, ("--overwrite",)), (mnt / "new", ())):
        assert _mask(text, target, *extra) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Read-only file system (EROFS)" in err, err
    assert _seed_of(out) == 1 and not (mnt / "new").exists()


def test_read_only_directory_without_mounts(text, tmp_path, capsys, monkeypatch):
    """Where a read-only mount is not available (and as root, where mode
    bits do not stop writes): the same failure, injected at mkdir."""
    out = tmp_path / "out"
    assert _mask(text, out, "--seed", "1") == 0
    real_mkdir = os.mkdir

    def read_only(path, *args, **kwargs):
        if ".tf-mlm-tmp-" in str(path):
            raise OSError(30, os.strerror(30), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(writers.os, "mkdir", read_only)
    capsys.readouterr()
    assert _mask(text, out, "--overwrite") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Read-only file system (EROFS)" in err
    assert _seed_of(out) == 1


# -- determinism across processes ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        ("--compression", "gzip", "--num-shards", "2"),
        ("--output-format", "jsonl", "--compression", "gzip"),
    ],
)
def test_same_bytes_from_two_processes(text, tmp_path, options):
    outs = [tmp_path / "a", tmp_path / "b"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tf_mlm.cli", *_argv(text, o, *options)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=sp.child_env(),
        )
        for o in outs
    ]
    for p in procs:
        output = p.communicate(timeout=300)[0]
        assert p.returncode == 0, output.decode()[-2000:]
    names = sorted(n for n in os.listdir(outs[0]) if writers.is_shard_name(n))
    assert names and names == sorted(n for n in os.listdir(outs[1]) if writers.is_shard_name(n))
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    metas = [json.loads((o / "metadata.json").read_text()) for o in outs]
    assert metas[0]["shard_info"] == metas[1]["shard_info"]
