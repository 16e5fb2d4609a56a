"""The `tf-mlm` command line.

tf-mlm demo                      mask built-in sentences, time a batch
tf-mlm mask INPUT... -o DIR      create masked pretraining data (TFRecords / JSON Lines)
tf-mlm inspect DIR_OR_FILE       show records and statistics of `mask` output
tf-mlm bench [ARGS...]           the benchmark suite (python -m benchmarks)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from typing import List, Optional, Sequence

from tf_mlm.cli import arguments, quiet


def _build_parser() -> argparse.ArgumentParser:
    parser = arguments.Parser(
        prog="tf-mlm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = sub.add_parser("demo", help="mask built-in sentences and time a larger batch")
    demo.add_argument(
        "--rows", type=arguments.positive_int, default=4096, help="rows of the timed batch"
    )
    demo.add_argument("--seed", type=arguments.integer, default=42)
    arguments.add_verbose(demo)
    arguments.add_mask_parser(sub)
    arguments.add_inspect_parser(sub)
    sub.add_parser(
        "bench",
        help="run the benchmark suite (python -m benchmarks); "
        "arguments after 'bench' are passed on",
        add_help=False,
    )
    return parser


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    """The arguments of ``argv``; an unknown option is reported by the
    command it was given to (``tf-mlm mask: error: unrecognized ...``)."""
    parser = _build_parser()
    argv, pipeline_args = (
        arguments.split_runner_args(argv) if argv[:1] == ["mask"] else (list(argv), [])
    )
    args, extra = parser.parse_known_args(argv)
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if args.command == "mask":
        args.pipeline_args = pipeline_args
        mask_options = commands.choices["mask"]._option_string_actions
        for arg in pipeline_args:  # Beam would drop an option it does not know, unsaid
            name = arg.split("=", 1)[0]
            if name.startswith("--") and name in mask_options:
                commands.choices["mask"].error(
                    f"{name} is an option of tf-mlm mask: give it before --runner "
                    "(the arguments after --runner [NAME] are Beam's)"
                )
    if extra:
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _error(command: str, message: str, status: int = 2) -> int:
    print(f"tf-mlm {command}: error: {message}", file=sys.stderr)
    return status


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like SIGINT's KeyboardInterrupt."""

    signum = signal.SIGTERM


def _sigterm_as_interrupt(signum, frame):
    raise _Terminated


def _exit_status(interrupt: BaseException) -> int:
    return 128 + int(getattr(interrupt, "signum", signal.SIGINT))


def _run_mask(args) -> int:
    from tf_mlm.cli import mask as _cli_mask

    return _cli_mask.run(args)


def _run_inspect(args) -> int:
    from tf_mlm.pretraining import inspect as inspect_lib
    from tf_mlm.pretraining import vocab as vocab_lib

    if args.verify:
        meta = inspect_lib.verify_output(args.path)
    else:
        _, meta = inspect_lib.resolve_output(args.path, require_metadata=False)
    vocab_path = args.vocab or (
        meta.get("vocab")
        if isinstance(meta.get("vocab"), str) and os.path.exists(meta["vocab"])
        else None
    )
    vocab = vocab_lib.Vocabulary.load(vocab_path) if vocab_path else None
    if meta.get("objective") == "span_corruption" or (not meta and _span_records(args.path)):
        return _inspect_spans(args, meta, vocab)
    if args.mask_token is not None:
        mask_token = vocab_lib.resolve_id(args.mask_token, vocab, "--mask-token")
    else:
        mask_token = meta.get("mask_token")
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    shown = []
    stats = inspect_lib.summarize(
        _tee(
            inspect_lib.read_records(args.path, limit=args.limit, require_metadata=args.verify),
            shown,
            args.num_records,
        ),
        mask_token=mask_token,
        max_seq_length=meta.get("max_seq_length"),
        masking=meta.get("masking") if isinstance(meta.get("masking"), dict) else None,
    )
    _check_count(args, meta, stats)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    if meta:
        masking = meta.get("masking") if isinstance(meta.get("masking"), dict) else {}
        print(
            f"{args.path}: {meta.get('records')} records in {len(meta.get('shards', []))} "
            f"{meta.get('format')} shard(s); mask token {meta.get('mask_token')}, vocabulary "
            f"size {meta.get('vocab_size')}, seed {masking.get('seed')}, "
            f"dupe factor {masking.get('dupe_factor')}"
            + ("; shards verified" if args.verify else "; not verified (--no-verify)")
        )
    if shown:
        print(
            "masked tokens are shown as <shown=original>, or <original> when kept"
            + (" (yellow: mask token, red: random, green: kept)" if color else "")
        )
    for i, rec in enumerate(shown):
        print(
            f"\nrecord {i}: {len(rec['input_ids'])} tokens, "
            f"{len(rec['masked_lm_positions'])} masked"
        )
        print("  " + inspect_lib.render_record(rec, vocab, mask_token, color=color))
    print()
    print(inspect_lib.format_summary(stats))
    return 1 if stats["problems"] else 0


def _span_records(path: str) -> bool:
    """Whether the first record of an output without metadata is span corruption's."""
    from tf_mlm.pretraining import inspect as inspect_lib

    first = next(iter(inspect_lib.read_records(path, limit=1, require_metadata=False)), {})
    return "inputs" in first


def _inspect_spans(args, meta, vocab) -> int:
    """``tf-mlm inspect`` of span-corruption output."""
    from tf_mlm.pretraining import inspect as inspect_lib
    from tf_mlm.pretraining import span_statistics

    if args.mask_token is not None:
        raise inspect_lib.InputError("--mask-token does not apply to span-corruption output")
    options = meta.get("span_corruption") if isinstance(meta.get("span_corruption"), dict) else None
    shown: List = []
    stats = span_statistics.summarize(
        _tee(
            inspect_lib.read_records(args.path, limit=args.limit, require_metadata=args.verify),
            shown,
            args.num_records,
        ),
        options,
    )
    _check_count(args, meta, stats)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    if meta:
        options = options or {}
        print(
            f"{args.path}: {meta.get('records')} span-corruption records in "
            f"{len(meta.get('shards', []))} {meta.get('format')} shard(s); first sentinel "
            f"{meta.get('first_sentinel')}, vocabulary size {meta.get('vocab_size')}, noise "
            f"density {options.get('noise_density')}, mean noise span length "
            f"{options.get('mean_noise_span_length')}, seed {options.get('seed')}, dupe factor "
            f"{options.get('dupe_factor')}"
            + ("; shards verified" if args.verify else "; not verified (--no-verify)")
        )
    if shown:
        print("noise spans are shown as <extra_id_K: tokens>, K the span's sentinel")
    # the metadata's, else the first record with a sentinel shows it
    guesses = (span_statistics.first_sentinel_of(rec, options) for rec in shown)
    first = next((g for g in guesses if g is not None), None)
    for i, rec in enumerate(shown):
        print(
            f"\nrecord {i}: inputs {len(rec['inputs'])} tokens, "
            f"targets {len(rec['targets'])} tokens"
        )
        print("  " + span_statistics.render_record(rec, first or 0, vocab))
    print()
    print(span_statistics.format_summary(stats))
    return 1 if stats["problems"] else 0


def _check_count(args, meta, stats) -> None:
    """With verification, the records read must be those the metadata records."""
    from tf_mlm.pretraining import inspect as inspect_lib

    if (
        args.verify
        and args.limit is None
        and os.path.isdir(args.path)
        and stats["records"] != meta.get("records")
    ):
        raise inspect_lib.DatasetError(
            f"{args.path}: {stats['records']} records read, the "
            f"metadata records {meta.get('records')}"
        )


def _tee(records, shown: List, n: int):
    for rec in records:
        if len(shown) < n:
            shown.append(rec)
        yield rec


def _bench_checkout() -> Optional[str]:
    """The source checkout this tf_mlm runs from, when it has the suite."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return root if os.path.exists(os.path.join(root, "benchmarks", "__main__.py")) else None


def _run_bench(argv: Sequence[str]) -> int:
    try:
        from benchmarks.__main__ import main as bench_main
    except ImportError:
        # The suite is not installed with the wheel. From a checkout whose
        # root is not on sys.path, run it there in a child interpreter.
        checkout = _bench_checkout()
        if checkout is None:
            print(
                "tf-mlm bench: the benchmark suite is not available: it lives in the "
                "benchmarks/ directory of a tf_mlm source checkout; run `python -m benchmarks` "
                "(or `tf-mlm bench` from an editable install) in the checkout.",
                file=sys.stderr,
            )
            return 2
        return subprocess.call([sys.executable, "-m", "benchmarks", *argv], cwd=checkout)
    return int(bench_main(list(argv)) or 0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        quiet.configure(verbose=False)
        return _run_bench(argv[1:])
    # Arguments, inputs and the output directory are checked before
    # TensorFlow is imported; it is imported (quietly) once work needs it.
    args = _parse(argv)
    quiet.configure(args.verbose)
    if args.command == "demo":
        quiet.import_tensorflow(args.verbose)
        from tf_mlm.cli import demo as demo_module

        demo_module.run(rows=args.rows, seed=args.seed)
        return 0
    try:
        if args.command == "mask":
            return _main_mask(args)
        return _guarded("inspect", lambda: _run_inspect(args))
    except BrokenPipeError:
        # The reader went away (`tf-mlm inspect DIR | head`): stop quietly.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0


def _guarded(command: str, fn) -> int:
    """Runs ``fn``, turning the errors a user or the environment causes into
    one line on stderr and an exit status: 2 for bad input or options, 1
    for the environment (disk, permissions, file system) and for a dataset
    that fails verification, 130/143 for SIGINT/SIGTERM."""
    from tf_mlm.pretraining.inspect import DatasetError
    from tf_mlm.pretraining.readers import InputError
    from tf_mlm.pretraining.writers import OutputError, os_reason

    try:
        return fn()
    except DatasetError as e:
        return _error(command, str(e), 1)
    except InputError as e:
        return _error(command, str(e))
    except OutputError as e:
        return _error(command, str(e), 1)
    except BrokenPipeError:
        raise
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        return _error(command, f"{where}{os_reason(e)}", 1)
    except Exception as e:
        # TensorFlow's runtime errors (tf.errors.OpError), when it is loaded.
        tf = sys.modules.get("tensorflow")
        if tf is None or not isinstance(e, tf.errors.OpError):
            raise
        return _error(command, (e.message or str(e)).splitlines()[0], 1)
    except KeyboardInterrupt as e:
        print(
            f"tf-mlm {command}: interrupted"
            + ("; nothing was published (temporary files removed)" if command == "mask" else ""),
            file=sys.stderr,
        )
        return _exit_status(e)


def _main_mask(args) -> int:
    """``tf-mlm mask``: the run goes on a worker thread so that the main
    thread, which alone receives signals in Python, stays free: SIGINT or
    SIGTERM ends the run within a second whatever the worker waits on
    (stdin, a stalled file system): the main thread cancels the writers
    (nothing is published; temporary files are removed) and exits at once."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return _guarded("mask", lambda: _run_mask(args))
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _sigterm_as_interrupt),
        # also when started with SIGINT ignored (a background job)
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
    }
    result: dict = {}

    def work():
        try:
            result["status"] = _guarded("mask", lambda: _run_mask(args))
        except BaseException as e:
            result["error"] = e

    worker = threading.Thread(target=work, name="tf-mlm-mask", daemon=True)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt as e:
        _cancel_and_exit(e)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if "error" in result:
        raise result["error"]
    return result["status"]


def _cancel_and_exit(interrupt: BaseException) -> None:
    from tf_mlm.pretraining import writers

    states = writers.cancel_all(timeout=1.0)
    if "published" in states:
        note = "; the new dataset had already been published"
    elif "busy" in states:
        note = (
            "; nothing was published (a temporary directory may remain: the next run on "
            "this output deletes it)"
        )
    else:
        note = "; nothing was published (temporary files removed)"
    quiet.restore_stderr()  # the worker may be importing TensorFlow
    print(f"tf-mlm mask: interrupted{note}", file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    # The worker may be blocked in a read or inside TensorFlow: end the
    # process now rather than wait for it at interpreter shutdown.
    os._exit(_exit_status(interrupt))
