"""The `tf-mlm` command line.

  tf-mlm demo                      mask built-in sentences, time a batch
  tf-mlm mask INPUT... -o DIR      create masked pretraining data (TFRecords / JSON Lines)
  tf-mlm inspect DIR_OR_FILE       show records and statistics of `mask` output
  tf-mlm bench [ARGS...]           the benchmark suite (python -m benchmarks)

The logic lives in tf_mlm.pretraining; this module only parses arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from typing import List, Optional, Sequence

from tf_mlm import options

_DEFAULT_MASK_TOKENS = ("[MASK]", "<mask>")


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _add_mask_parser(sub) -> None:
    p = sub.add_parser(
        "mask",
        help="mask tokenized sequences into static pretraining data",
        description="Mask tokenized sequences (JSON Lines, whitespace-separated ids or "
        "TFRecords of tf.train.Example) into sharded TFRecords with BERT's feature "
        "names, or JSON Lines. Deterministic for a given --seed whatever "
        "--num-parallel-calls and --num-shards (record k goes to shard "
        "k % num_shards).",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="files, directories or globs; '-' reads stdin (jsonl or text)",
    )
    p.add_argument("-o", "--output-dir", required=True, help="directory for the shards")
    g = p.add_argument_group("input")
    g.add_argument(
        "--input-format",
        choices=("auto", "jsonl", "text", "tfrecord"),
        default="auto",
        help="default: from the extension, else the first bytes",
    )
    g.add_argument(
        "--input-feature",
        default="input_ids",
        help="JSON key / tf.train.Example int64 feature holding the ids (default: %(default)s)",
    )
    g = p.add_argument_group("vocabulary")
    g.add_argument(
        "--vocab",
        metavar="VOCAB_FILE",
        help="vocabulary file, one token per line: gives the vocabulary size, lets "
        "ids be named by token, and defaults --unselectable-ids to its special "
        "tokens ([PAD] [UNK] [CLS] [SEP] [MASK] ...)",
    )
    g.add_argument(
        "--vocab-size", type=_positive, help="size of the vocabulary (required without --vocab)"
    )
    g.add_argument(
        "--mask-token",
        default=None,
        help="id (or token, with --vocab) of the mask token (default with --vocab: "
        "its [MASK] or <mask>)",
    )
    g = p.add_argument_group("masking")
    g.add_argument(
        "--selection-rate",
        "--masked-lm-prob",
        type=_probability,
        default=options.SELECTION_RATE,
        help="fraction of each sequence's selectable tokens (or words) to mask "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--max-predictions-per-seq",
        type=_positive,
        default=20,
        help="most masked tokens per record; predictions are padded to it (default: %(default)s)",
    )
    g.add_argument(
        "--max-selections",
        type=int,
        default=None,
        help="cap on selected items per sequence (words with --whole-word); default "
        "--max-predictions-per-seq. Whole items over the token budget are "
        "unmasked at random",
    )
    g.add_argument(
        "--mask-token-rate",
        type=_probability,
        default=options.MASK_TOKEN_RATE,
        help="probability a selected token becomes the mask token (default: %(default)s)",
    )
    g.add_argument(
        "--random-token-rate",
        type=_probability,
        default=options.RANDOM_TOKEN_RATE,
        help="probability a selected token becomes a random id (default: %(default)s)",
    )
    g.add_argument(
        "--unselectable-ids",
        default=None,
        metavar="IDS",
        help="comma-separated ids (or tokens, with --vocab) never masked, e.g. "
        "'[CLS],[SEP],0'; '' for none",
    )
    g.add_argument(
        "--selection-mode",
        choices=("exact", "bernoulli"),
        default="exact",
        help="exact: ceil(rate * selectable) items per sequence (tensorflow_text, "
        "BERT); bernoulli: each item with probability rate (HuggingFace)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=12345,
        help="the output is a function of the seed and the input (default: %(default)s)",
    )
    g.add_argument(
        "--dupe-factor",
        type=_positive,
        default=1,
        help="number of differently masked copies of each sequence (default: %(default)s)",
    )
    g = p.add_argument_group("strategies")
    g.add_argument(
        "--whole-word",
        action="store_true",
        help="mask whole words: the words of JSON Lines inputs given as lists of "
        "words ([[101], [7592, 2015], [102]]), else words grouped from the "
        "--vocab pieces (see --word-pieces)",
    )
    g.add_argument(
        "--word-pieces",
        choices=("auto", "wordpiece", "sentencepiece"),
        default="auto",
        help="how --vocab marks words: wordpiece (## continues a word), "
        "sentencepiece (\u2581 starts one); auto: wordpiece if the vocabulary "
        "has ## pieces",
    )
    g.add_argument(
        "--span",
        action="store_true",
        help="SpanBERT span masking: spans of geometric length until the budget "
        "(selection rate x selectable tokens, capped) is spent",
    )
    g.add_argument(
        "--span-p",
        type=float,
        default=options.SPAN_P,
        help="parameter of the geometric span-length law (default: %(default)s)",
    )
    g.add_argument(
        "--max-span-length",
        type=_positive,
        default=options.MAX_SPAN_LENGTH,
        help="span lengths are clipped to this (default: %(default)s)",
    )
    g.add_argument(
        "--random-excluded-ids",
        default="",
        metavar="IDS",
        help="comma-separated ids (or tokens) never drawn as random replacements; "
        "'special' for the --vocab special tokens",
    )
    g.add_argument(
        "--replacement-frequencies",
        metavar="FILE",
        help="draw random replacements in proportion to these weights (fairseq's "
        "freq_weighted_replacement): one non-negative number per line, line k "
        "for id k, one line per vocabulary id",
    )
    g = p.add_argument_group("length")
    g.add_argument(
        "--max-seq-length",
        type=_positive,
        default=128,
        help="input_ids are padded to this length (default: %(default)s)",
    )
    g.add_argument(
        "--long-sequences",
        choices=("truncate", "skip", "error"),
        default="truncate",
        help="what to do with longer sequences (default: %(default)s)",
    )
    g = p.add_argument_group("output")
    g.add_argument(
        "--output-format",
        choices=("tfrecord", "jsonl"),
        default="tfrecord",
        help="tfrecord: padded tf.train.Example with input_ids, input_mask, "
        "masked_lm_positions, masked_lm_ids, masked_lm_weights; jsonl: unpadded "
        "input_ids, masked_lm_positions, masked_lm_ids",
    )
    g.add_argument("--num-shards", type=_positive, default=1, help="default: %(default)s")
    g.add_argument("--compression", choices=("none", "gzip"), default="none")
    g.add_argument(
        "--shuffle-buffer",
        type=int,
        default=0,
        help="shuffle the output records with a buffer this large, seeded by --seed "
        "(default: no shuffling; records come in input order, copy after copy)",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the shards of an existing, non-empty output directory",
    )
    g = p.add_argument_group("running")
    g.add_argument(
        "--num-parallel-calls",
        type=_positive,
        default=None,
        help="parallelism of the masking map (default: tf.data AUTOTUNE); does not "
        "change the output",
    )
    g.add_argument(
        "--progress",
        choices=("auto", "bar", "log", "none"),
        default="auto",
        help="auto: a bar on a terminal, log lines otherwise",
    )


def _add_inspect_parser(sub) -> None:
    p = sub.add_parser(
        "inspect",
        help="show records and statistics of `tf-mlm mask` output",
        description="Show a few records of `tf-mlm mask` output, decoded, and summary statistics.",
    )
    p.add_argument(
        "path", metavar="FILE", help="an output directory, one shard, or a glob of shards"
    )
    p.add_argument(
        "--vocab",
        metavar="VOCAB_FILE",
        help="show tokens instead of ids (default: the vocabulary recorded in the "
        "output's metadata, when it still exists)",
    )
    p.add_argument(
        "-n", "--num-records", type=int, default=3, help="records to show (default: %(default)s)"
    )
    p.add_argument(
        "--mask-token",
        default=None,
        help="id (or token) of the mask token (default: from metadata.json)",
    )
    p.add_argument(
        "--limit",
        type=_positive,
        default=None,
        help="compute statistics over the first N records only",
    )
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    p.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip checking the shards against metadata.json (sizes, SHA-256, "
        "record counts); by default a mismatch, a missing or an extra shard "
        "fails with exit status 1",
    )
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tf-mlm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="mask built-in sentences and time a larger batch")
    demo.add_argument("--rows", type=int, default=4096, help="rows of the timed batch")
    demo.add_argument("--seed", type=int, default=42)
    _add_mask_parser(sub)
    _add_inspect_parser(sub)
    sub.add_parser(
        "bench",
        help="run the benchmark suite (python -m benchmarks); "
        "arguments after 'bench' are passed on",
        add_help=False,
    )
    return parser


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
    from tf_mlm.pretraining import pipeline, progress, readers
    from tf_mlm.pretraining import vocab as vocab_lib

    vocab = vocab_lib.Vocabulary.load(args.vocab) if args.vocab else None
    if vocab is None and args.vocab_size is None:
        raise readers.InputError("give --vocab VOCAB_FILE or --vocab-size N")
    vocab_size = args.vocab_size or len(vocab)
    if vocab is not None and args.vocab_size is not None and args.vocab_size < len(vocab):
        raise readers.InputError(
            f"--vocab-size {args.vocab_size} is smaller than the vocabulary ({len(vocab)} tokens)"
        )
    if args.mask_token is None and vocab is None:
        raise readers.InputError("give --mask-token ID (or --vocab with a [MASK] token)")
    if args.mask_token is None:
        names = [t for t in _DEFAULT_MASK_TOKENS if t in vocab.tokens]
        if not names:
            raise readers.InputError(
                f"the vocabulary has no {' or '.join(_DEFAULT_MASK_TOKENS)} "
                "token; give --mask-token"
            )
        mask_token = vocab.id(names[0])
    else:
        mask_token = vocab_lib.resolve_id(args.mask_token, vocab, "--mask-token")
    if args.unselectable_ids is not None:
        unselectable = vocab_lib.parse_id_list(args.unselectable_ids, vocab)
    else:
        unselectable = vocab.special_ids() if vocab is not None else []
    if args.random_excluded_ids.strip() == "special":
        if vocab is None:
            raise readers.InputError("--random-excluded-ids special needs --vocab")
        random_excluded = vocab.special_ids()
    else:
        random_excluded = vocab_lib.parse_id_list(args.random_excluded_ids, vocab)
    table = None
    if args.whole_word and vocab is not None:
        table = vocab.continuation_table(args.word_pieces)
    frequencies = (
        vocab_lib.load_frequencies(args.replacement_frequencies)
        if args.replacement_frequencies
        else None
    )
    config = pipeline.MaskingConfig(
        vocab_size=vocab_size,
        mask_token=mask_token,
        selection_rate=args.selection_rate,
        max_predictions_per_seq=args.max_predictions_per_seq,
        max_selections=args.max_selections,
        mask_token_rate=args.mask_token_rate,
        random_token_rate=args.random_token_rate,
        unselectable_ids=unselectable,
        selection_mode=args.selection_mode,
        whole_word=args.whole_word,
        continuation_table=table,
        span=args.span,
        span_p=args.span_p,
        max_span_length=args.max_span_length,
        random_excluded_ids=random_excluded,
        replacement_frequencies=frequencies,
        max_seq_length=args.max_seq_length,
        seed=args.seed,
        dupe_factor=args.dupe_factor,
    )
    try:
        config.validate()
    except ValueError as e:
        raise readers.InputError(str(e)) from None
    reader = readers.SequenceReader(
        readers.expand_inputs(args.inputs),
        input_format=args.input_format,
        feature=args.input_feature,
        vocab_size=vocab_size,
        max_seq_length=args.max_seq_length,
        long_sequences=args.long_sequences,
    )
    summary = pipeline.run_mask(
        reader,
        config,
        args.output_dir,
        output_format=args.output_format,
        num_shards=args.num_shards,
        compression="" if args.compression == "none" else "gzip",
        overwrite=args.overwrite,
        num_parallel_calls=args.num_parallel_calls,
        shuffle_buffer=args.shuffle_buffer,
        progress=progress.Progress(args.progress),
        extra_metadata={
            "vocab": vocab.path if vocab is not None else None,
            "inputs": [os.path.abspath(p) if p != "-" else "-" for p in reader.inputs],
            "input_formats": reader.formats,
            "word_pieces": args.word_pieces if table is not None else None,
            "replacement_frequencies": args.replacement_frequencies,
        },
    )
    seconds = summary["seconds"]
    notes = [
        f"{summary[k]} {label}"
        for k, label in (
            ("truncated", "truncated"),
            ("skipped_long", "too long, skipped"),
            ("skipped_empty", "empty, skipped"),
        )
        if summary[k]
    ]
    print(
        f"wrote {summary['records']} records ({summary['input_records']} sequences x "
        f"{config.dupe_factor}) to {args.output_dir} in {len(summary['shards'])} "
        f"{args.output_format} shard(s): {summary['tokens']} tokens, "
        f"{summary['masked_tokens']} masked "
        f"({summary['masked_tokens'] / max(summary['tokens'], 1):.1%}); {seconds:.1f} s, "
        f"{summary['tokens'] / max(seconds, 1e-9):,.0f} tokens/s"
        + (f" [{', '.join(notes)}]" if notes else "")
    )
    return 0


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
    )
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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if argv and argv[0] == "bench":
        return _run_bench(argv[1:])
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        from tf_mlm import demo as demo_module

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
    import tensorflow as tf

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
    except tf.errors.OpError as e:
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
    print(f"tf-mlm mask: interrupted{note}", file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    # The worker may be blocked in a read or inside TensorFlow: end the
    # process now rather than wait for it at interpreter shutdown.
    os._exit(_exit_status(interrupt))


if __name__ == "__main__":
    sys.exit(main())
