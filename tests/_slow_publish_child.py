"""`tf-mlm` that stops inside a publishing step, for the fault-injection
tests of tests/test_mask_faults.py.

On entering each step named in $TF_MLM_HOLD_STEPS (comma-separated: ``sync``,
the checksum and fsync of each shard; ``swap``, the atomic exchange of the
directories; ``discard``, the deletion of the previous dataset after it),
creates the file $TF_MLM_HOLD_DIR/STEP and waits (at most 60 s) until
$TF_MLM_HOLD_DIR/release exists, so that the test can signal the process
while it is inside that step, whatever the machine's speed."""

import os
import sys
import time

from tf_mlm import cli
from tf_mlm.pretraining import writers

_FUNCTIONS = {"sync": "_digest_and_sync", "swap": "_exchange", "discard": "_discard_previous"}


def _held(step, fn, hold_dir):
    def wrapper(*args, **kwargs):
        with open(os.path.join(hold_dir, step), "w", encoding="utf-8"):
            pass
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(hold_dir, "release")) and time.monotonic() < deadline:
            time.sleep(0.02)
        return fn(*args, **kwargs)

    return wrapper


def main():
    hold_dir = os.environ["TF_MLM_HOLD_DIR"]
    for step in filter(None, os.environ.get("TF_MLM_HOLD_STEPS", "").split(",")):
        name = _FUNCTIONS[step]
        setattr(writers, name, _held(step, getattr(writers, name), hold_dir))
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
