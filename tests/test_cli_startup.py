"""`tf-mlm` answers at once and quietly: usage errors, missing inputs and an
existing output are one line on stderr, reported before TensorFlow is
imported; `inspect` reads and verifies a dataset without TensorFlow; a run
that needs TensorFlow shows none of its start-up lines.

Each case runs in a fresh interpreter, so that `sys.modules` tells whether
the command imported TensorFlow."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(95)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("startup")
    (root / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    rng = np.random.default_rng(1)
    lines = [
        " ".join(map(str, [2, *rng.integers(5, 100, size=int(rng.integers(3, 40))), 3]))
        for _ in range(200)
    ]
    (root / "seqs.txt").write_text("\n".join(lines) + "\n")
    (root / "full").mkdir()
    (root / "full" / "keep.txt").write_text("x")
    return root


def run_cli(args):
    """Runs `tf_mlm.cli.main(args)` in a fresh interpreter; returns the exit
    status, stdout, stderr, and whether TensorFlow got imported."""
    code = textwrap.dedent(f"""
        import sys
        from tf_mlm import cli
        try:
            status = cli.main({list(map(str, args))!r})
        except SystemExit as e:  # argparse's usage errors
            status = e.code
        sys.stdout.flush()
        print("TF_IMPORTED" if "tensorflow" in sys.modules else "TF_ABSENT", file=sys.stderr)
        sys.exit(status)
    """)
    # A user's environment: no log level of its own (conftest.py sets one).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    *err, marker = proc.stderr.splitlines()
    return proc.returncode, proc.stdout, err, marker == "TF_IMPORTED"


def mask_args(files, *extra, output="out"):
    return [
        "mask",
        files / "seqs.txt",
        "-o",
        files / output,
        "--vocab",
        files / "vocab.txt",
        "--max-seq-length",
        "64",
        "--progress",
        "none",
        *extra,
    ]


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("missing input", "cannot read"),
        ("missing vocabulary", "cannot read vocabulary file"),
        ("existing output", "already exists and is not empty"),
        ("bad integer", "argument --dupe-factor: must be an integer >= 1, got 'abc'"),
        ("bad rate", "argument --selection-rate/--masked-lm-prob: must be in [0, 1], got 2"),
        ("bad choice", "argument --output-format: invalid choice: 'csv'"),
        ("missing argument", "the following arguments are required: -o/--output-dir"),
        ("unknown option", "unrecognized arguments: --nope"),
    ],
)
def test_mask_usage_errors_are_one_line_before_tensorflow(files, case, fragment):
    args = {
        "missing input": mask_args(files, "--mask-token", "4")[:1]
        + [files / "nope.txt"]
        + mask_args(files)[2:],
        "missing vocabulary": mask_args(files, "--vocab", files / "nope.vocab"),
        "existing output": mask_args(files, output="full"),
        "bad integer": mask_args(files, "--dupe-factor", "abc"),
        "bad rate": mask_args(files, "--masked-lm-prob", "2"),
        "bad choice": mask_args(files, "--output-format", "csv"),
        "missing argument": ["mask", files / "seqs.txt"],
        "unknown option": mask_args(files, "--nope"),
    }[case]
    status, out, err, tf_imported = run_cli(args)
    assert status == 2
    assert len(err) == 1, err
    assert err[0].startswith("tf-mlm mask: error: ") and fragment in err[0], err
    assert "usage:" not in err[0] and "_positive" not in err[0]
    assert not tf_imported
    assert out == ""


def test_argument_errors_point_to_help(files):
    _, _, err, _ = run_cli(mask_args(files, "--dupe-factor", "0"))
    assert err == [
        "tf-mlm mask: error: argument --dupe-factor: must be an integer >= 1, "
        "got '0' (see tf-mlm mask --help)"
    ]


def test_inspect_errors_and_reading_without_tensorflow(files):
    status, _, err, tf_imported = run_cli(["inspect", files])
    assert status == 1 and len(err) == 1 and "no metadata.json" in err[0], err
    assert not tf_imported
    # A dataset: written (this imports TensorFlow), then inspected and
    # verified in a process that never imports it.
    status, _, err, tf_imported = run_cli(mask_args(files, output="made"))
    assert status == 0 and tf_imported, err
    status, out, err, tf_imported = run_cli(["inspect", files / "made", "--json"])
    assert status == 0, err
    assert not tf_imported
    stats = json.loads(out)
    assert stats["records"] == 200 and stats["problems"] == []


def test_a_run_shows_no_tensorflow_start_up_lines(files):
    status, out, err, tf_imported = run_cli(mask_args(files, output="quiet"))
    assert status == 0 and tf_imported
    assert err == [], err
    assert out.startswith("wrote 200 records")


def test_demo_is_quiet(files):
    status, out, err, _ = run_cli(["demo", "--rows", "8"])
    assert status == 0 and err == [], err
    assert "per batch of 8 rows" in out


def test_verbose_keeps_tensorflows_lines(files):
    # Whatever TensorFlow prints on this machine is shown, not captured: the
    # run's stderr is what a plain `import tensorflow` prints.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    plain = subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    ).stderr.splitlines()
    status, _, err, _ = run_cli(mask_args(files, "--verbose", output="loud"))
    assert status == 0
    assert len(err) >= len([line for line in plain if "cuda" not in line.lower()])


def test_ctrl_c_while_tensorflow_loads_still_says_so(files):
    # SIGINT while TensorFlow is being imported with stderr held back: the
    # one line must still reach stderr.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = "import sys; from tf_mlm import cli; sys.exit(cli.main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, *map(str, mask_args(files, output="interrupted"))]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    # SIGINT once TensorFlow's library is being loaded (mapped into the
    # process), not after a fixed delay, which a loaded machine outruns
    maps = pathlib.Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if "libtensorflow_framework" in maps.read_text():
                break
        except OSError:  # the process has just exited
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.decode().splitlines() == [
        "tf-mlm mask: interrupted; nothing was published (temporary files removed)"
    ]
    assert not (files / "interrupted").exists()
