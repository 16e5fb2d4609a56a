"""`python -m benchmarks`: run the suite, print the table, write JSON,
Markdown and charts."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

# TensorFlow without its start-up lines (unless TF_CPP_MIN_LOG_LEVEL is set).
from tf_mlm.cli import quiet

quiet.import_tensorflow()

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
