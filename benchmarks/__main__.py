"""`python -m benchmarks`: run the suite, print the table, write JSON,
Markdown and charts."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile

# TensorFlow's C++ logging: errors and above only, unless the user chose.
QUIET = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# What TensorFlow's C++ libraries print while they load, before absl's
# logging is initialised (TF_CPP_MIN_LOG_LEVEL does not reach it): absl's
# notice and INFO / WARNING lines. Errors and anything else pass.
_STARTUP_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*"
)


@contextlib.contextmanager
def _startup_noise_filtered():
    """Holds back stderr (file descriptor 2) while TensorFlow loads, then
    writes it out without the start-up noise above."""
    if not QUIET:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines(keepends=True)
            sys.stderr.write("".join(l for l in lines if not _STARTUP_NOISE.fullmatch(l.strip())))
            sys.stderr.flush()


class _NoJaxProfilerNotice(logging.Filter):
    """absl's "Failed to load jax profiler" warning (keras with jax
    installed): the benchmark uses no profiler."""

    def filter(self, record):
        return not record.getMessage().startswith("Failed to load jax profiler")


logging.getLogger("absl").addFilter(_NoJaxProfilerNotice())

with _startup_noise_filtered():
    import tensorflow  # noqa: E402, F401

    from benchmarks import report, suite  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument(
        "--quick",
        action="store_true",
        help="few repeats and scaling points (about a minute; for CI/smoke)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG charts")
    p.add_argument(
        "--out",
        default=os.path.join(HERE, "results"),
        help="directory for latest.json, results.md and charts "
        "(default: benchmarks/results, not committed)",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="SECTION",
        help=f"run only these sections (repeatable or comma-separated): "
        f"{', '.join(suite.SECTIONS)}",
    )
    p.add_argument(
        "--publish",
        action="store_true",
        help="also copy results.md to benchmarks/results.md and the charts to "
        "docs/img/ (the committed copy the docs quote)",
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    only = [s.strip() for item in args.only or [] for s in item.split(",") if s.strip()]
    settings = suite.QUICK if args.quick else suite.FULL
    try:
        results = suite.run(
            settings, only=only or None, log=lambda m: print(m, file=sys.stderr, flush=True)
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results["command"] = suite.command_line()
    os.makedirs(args.out, exist_ok=True)
    if not args.no_plots:
        from benchmarks import plots

        results["charts"] = plots.all_charts(results, args.out)
    report.write_json(results, os.path.join(args.out, "latest.json"))
    markdown = report.render_markdown(results)
    with open(os.path.join(args.out, "results.md"), "w", encoding="utf-8") as f:
        f.write(markdown)
    print(report.render_text(results))
    print(
        f"\nwrote {os.path.join(args.out, 'latest.json')}"
        + (f" and {len(results.get('charts', []))} chart(s)" if not args.no_plots else "")
    )
    if args.publish:
        with open(os.path.join(HERE, "results.md"), "w", encoding="utf-8") as f:
            f.write(markdown)
        img = os.path.join(REPO, "docs", "img")
        os.makedirs(img, exist_ok=True)
        for path in results.get("charts", []):
            shutil.copy(path, os.path.join(img, os.path.basename(path)))
        print(f"published benchmarks/results.md and charts to {img}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
