"""Writes structured starting seeds for tests/fuzz/core_fuzzer.cc.

    python tests/fuzz/make_corpus.py OUT_DIR

One seed per (entry point, dtype/mode flags) pair: the op byte, the flags
byte, then a well-formed ragged structure (so that the first executions reach
the algorithms, not only the validation) followed by deterministic pseudo-
random bytes for the options. The committed corpus (tests/fuzz/corpus/core)
is these seeds after a fuzzing run, minimised with libFuzzer's -merge=1 (see
README.md, "Robustness and security").
"""

import random
import sys
from pathlib import Path

NUM_OPS = 12
FLAG_SETS = [0b0000000, 0b0000011, 0b0001001, 0b0100110, 0b0110001, 0b1011011, 0b0010100, 0b1111111]


def seed(op: int, flags: int, rng: random.Random) -> bytes:
    out = [op, flags, rng.randrange(4), rng.randrange(120), 1 + rng.randrange(8)]
    out += [rng.randrange(6) for _ in range(24)]  # row / item lengths
    # Options: small ints (kind byte >= 2 then an int8), rates, seeds, flags.
    for _ in range(40):
        out += [2 + rng.randrange(6), rng.randrange(256)]
    return bytes(b & 0xFF for b in out)


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(2024)
    for op in range(NUM_OPS):
        for i, flags in enumerate(FLAG_SETS):
            (out / f"seed-op{op}-{i}").write_bytes(seed(op, flags, rng))


if __name__ == "__main__":
    main(sys.argv[1])
