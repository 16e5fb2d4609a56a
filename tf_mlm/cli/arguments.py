"""The arguments of ``tf-mlm mask`` and ``tf-mlm inspect``, declared as
argparse sub-parsers (:mod:`tf_mlm.cli` builds the parser, and runs them).
"""

from __future__ import annotations

import argparse

from tf_mlm import options
from tf_mlm.pretraining.config import check_probability


def probability(text: str) -> float:
    # The command's narrower contract (pretraining.config.check_probability),
    # a usage error at parse time; the rates' other rules, such as their sum,
    # are the core's, run by MaskingConfig.validate.
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}") from None
    try:
        return check_probability("value", value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).replace("value must be", "must be")) from None


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


class Parser(argparse.ArgumentParser):
    """argparse with tf-mlm's usage errors: one line on stderr, ``tf-mlm
    COMMAND: error: ...`` and where the help is, exit status 2 (no usage
    block). Sub-parsers are made of the same class."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_verbose(p) -> None:
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's start-up log lines (hidden by default)",
    )


def add_mask_parser(sub) -> None:
    """Adds ``tf-mlm mask``, its arguments in groups, to the sub-parsers ``sub``."""
    p = sub.add_parser(
        "mask",
        help="mask raw text or tokenized sequences into static pretraining data",
        description="Mask raw text (one sentence per line, blank lines between documents, "
        "tokenized with --vocab or --sentencepiece-model and packed into sequences) or "
        "tokenized sequences (JSON Lines, whitespace-separated ids or "
        "TFRecords of tf.train.Example) into sharded TFRecords with BERT's feature "
        "names, or JSON Lines. Deterministic for a given --seed whatever "
        "--num-parallel-calls and --num-shards (record k goes to shard "
        "k % num_shards).",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="files, directories or globs; '-' reads stdin (jsonl, text or raw)",
    )
    p.add_argument("-o", "--output-dir", required=True, help="directory for the shards")
    add_verbose(p)
    for add_group in (
        _input_group,
        _vocabulary_group,
        _masking_group,
        _strategy_group,
        _length_group,
        _objective_group,
        _output_group,
        _running_group,
    ):
        add_group(p)
    _beam_group(p)


# --- the objective: masked LM (BERT's) or T5 span corruption --------------------------------

OBJECTIVES = ("mlm", "span-corruption")
# Options of the masked-LM objective only (their dests); given with
# --objective span-corruption they are a usage error.
MLM_ONLY = (
    ("selection_rate", "--masked-lm-prob / --selection-rate"),
    ("max_predictions_per_seq", "--max-predictions-per-seq"),
    ("max_selections", "--max-selections"),
    ("mask_token_rate", "--mask-token-rate"),
    ("random_token_rate", "--random-token-rate"),
    ("unselectable_ids", "--unselectable-ids"),
    ("selection_mode", "--selection-mode"),
    ("mask_token", "--mask-token"),
    ("whole_word", "--whole-word"),
    ("word_pieces", "--word-pieces"),
    ("span", "--span"),
    ("span_p", "--span-p"),
    ("max_span_length", "--max-span-length"),
    ("random_excluded_ids", "--random-excluded-ids"),
    ("replacement_frequencies", "--replacement-frequencies"),
)
SPAN_ONLY = (
    ("noise_density", "--noise-density"),
    ("mean_noise_span_length", "--mean-noise-span-length"),
    ("inputs_length", "--inputs-length"),
)


class _Default:
    """Marks a default value (an instance of a subclass of its type), so that
    an option given on the command line, even with its default value, is
    told from one left out: :func:`given`."""


def _marked(value):
    if value is None or isinstance(value, bool):
        return value  # store_true flags and options without a default
    return type(f"Default{type(value).__name__.title()}", (type(value), _Default), {})(value)


def given(args, dest: str) -> bool:
    """Whether the option of ``dest`` was given on the command line (those of
    :data:`MLM_ONLY`, :data:`SPAN_ONLY` and ``max_seq_length``)."""
    value = getattr(args, dest)
    return not isinstance(value, _Default) and value not in (None, False)


def unmark(args) -> None:
    """Turns the marked defaults of ``args`` back into plain values."""
    for dest, value in vars(args).items():
        if isinstance(value, _Default):
            plain = next(t for t in type(value).__mro__[1:] if not issubclass(t, _Default))
            setattr(args, dest, plain(value))


def objective_conflict(args) -> str | None:
    """The usage error of options given for the other objective (or of
    ``--inputs-length`` with ``--max-seq-length``), or None."""
    span = args.objective == "span-corruption"
    for dest, flag in MLM_ONLY if span else SPAN_ONLY:
        if given(args, dest):
            return (
                f"{flag} does not apply to --objective span-corruption"
                if span
                else f"{flag} applies to --objective span-corruption only"
            )
    if span and given(args, "inputs_length") and given(args, "max_seq_length"):
        return (
            "give --inputs-length (the raw length is then T5's, for those inputs) "
            "or --max-seq-length, not both"
        )
    return None


def _objective_group(p) -> None:
    """objective: BERT's masked LM (the default) or T5 span corruption."""
    g = p.add_argument_group("objective")
    g.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="mlm",
        help="mlm: BERT's masked-LM features (the options above); span-corruption: "
        "T5's, each sequence corrupted as one example into int64 lists 'inputs' and "
        "'targets' (seqio's features, no EOS), sentinels counting down from "
        "vocabulary size - 1 (default: %(default)s)",
    )
    g.add_argument(
        "--noise-density",
        type=probability,
        default=0.15,
        help="span corruption: fraction of each sequence's tokens in noise spans "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--mean-noise-span-length",
        type=number,
        default=3.0,
        help="span corruption: mean length of a noise span (default: %(default)s)",
    )
    g.add_argument(
        "--inputs-length",
        type=positive_int,
        default=None,
        help="span corruption: cut and pack sequences to T5's raw length for inputs this "
        "long, EOS included (t5's random_spans_helper: 512 gives 568 tokens, inputs 511 "
        "and targets up to 113, plus EOS); instead of --max-seq-length",
    )
    # The options of the other objective are told given or not (see given()).
    p.set_defaults(
        **{dest: _marked(p.get_default(dest)) for dest, _ in (*MLM_ONLY, *SPAN_ONLY)},
        max_seq_length=_marked(p.get_default("max_seq_length")),
    )


def _input_group(p) -> None:
    """input: the format of the inputs, the feature holding the ids."""
    g = p.add_argument_group("input")
    g.add_argument(
        "--input-format",
        choices=("auto", "jsonl", "text", "tfrecord", "raw"),
        default="auto",
        help="raw: text, one sentence per line, blank lines between documents. Default: "
        "from the extension, else the first bytes; with --vocab or --sentencepiece-model, "
        ".txt files and stdin whose first non-blank line is not integers are raw",
    )
    g.add_argument(
        "--input-feature",
        default="input_ids",
        help="JSON key / tf.train.Example int64 feature holding the ids (default: %(default)s)",
    )


def _vocabulary_group(p) -> None:
    """vocabulary: its file or size, the mask token."""
    g = p.add_argument_group("vocabulary")
    g.add_argument(
        "--vocab",
        metavar="VOCAB_FILE",
        help="vocabulary file, one token per line: gives the vocabulary size, lets "
        "ids be named by token, and defaults --unselectable-ids to its special "
        "tokens ([PAD] [UNK] [CLS] [SEP] [MASK] ...)",
    )
    g.add_argument(
        "--sentencepiece-model",
        metavar="MODEL_FILE",
        help="a SentencePiece .model: tokenizes raw text, and its pieces are the "
        "vocabulary (instead of --vocab)",
    )
    g.add_argument(
        "--do-lower-case",
        dest="lower_case",
        action="store_const",
        const=True,
        default=None,
        help="raw text with --vocab: lower-case and strip accents before WordPiece, as "
        "BERT's uncased models (the default)",
    )
    g.add_argument(
        "--no-lower-case",
        dest="lower_case",
        action="store_const",
        const=False,
        help="raw text with --vocab: keep case and accents (cased vocabularies)",
    )
    g.add_argument(
        "--vocab-size",
        type=positive_int,
        help="size of the vocabulary (required without --vocab or --sentencepiece-model)",
    )
    g.add_argument(
        "--mask-token",
        default=None,
        help="id (or token, with --vocab) of the mask token (default with --vocab: "
        "its [MASK] or <mask>)",
    )


def _masking_group(p) -> None:
    """masking: the rates, the caps, the unselectable ids, the seed, the copies."""
    g = p.add_argument_group("masking")
    g.add_argument(
        "--selection-rate",
        "--masked-lm-prob",
        type=probability,
        default=options.SELECTION_RATE,
        help="fraction of each sequence's selectable tokens (or words) to mask "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--max-predictions-per-seq",
        type=positive_int,
        default=20,
        help="most masked tokens per record; predictions are padded to it (default: %(default)s)",
    )
    g.add_argument(
        "--max-selections",
        type=integer,
        default=None,
        help="cap on selected items per sequence (words with --whole-word); default "
        "--max-predictions-per-seq. Whole items over the token budget are "
        "unmasked at random",
    )
    g.add_argument(
        "--mask-token-rate",
        type=probability,
        default=options.MASK_TOKEN_RATE,
        help="probability a selected token becomes the mask token (default: %(default)s)",
    )
    g.add_argument(
        "--random-token-rate",
        type=probability,
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
        type=integer,
        default=12345,
        help="the output is a function of the seed and the input (default: %(default)s)",
    )
    g.add_argument(
        "--dupe-factor",
        type=positive_int,
        default=1,
        help="number of differently masked copies of each sequence (default: %(default)s)",
    )


def _strategy_group(p) -> None:
    """strategies: whole words, spans, the law of random replacements."""
    g = p.add_argument_group("strategies")
    g.add_argument(
        "--whole-word",
        action="store_true",
        help="mask whole words: the tokenizer's words for raw text, the words of JSON "
        "Lines inputs given as lists of words ([[101], [7592, 2015], [102]]), else "
        "words grouped from the --vocab pieces (see --word-pieces)",
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
        type=number,
        default=options.SPAN_P,
        help="parameter of the geometric span-length law (default: %(default)s)",
    )
    g.add_argument(
        "--max-span-length",
        type=positive_int,
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


def _length_group(p) -> None:
    """length: the padded length, and what becomes of longer sequences."""
    g = p.add_argument_group("length")
    g.add_argument(
        "--max-seq-length",
        type=positive_int,
        default=128,
        help="input_ids are padded to this length; raw text is packed into sequences "
        "this long, [CLS] and [SEP] included (default: %(default)s)",
    )
    g.add_argument(
        "--long-sequences",
        choices=("truncate", "skip", "error"),
        default="truncate",
        help="what to do with longer sequences (default: %(default)s)",
    )


def _output_group(p) -> None:
    """output: the format, shards, compression, order, overwriting."""
    g = p.add_argument_group("output")
    g.add_argument(
        "--output-format",
        choices=("tfrecord", "jsonl"),
        default="tfrecord",
        help="tfrecord: padded tf.train.Example with input_ids, input_mask, "
        "masked_lm_positions, masked_lm_ids, masked_lm_weights; jsonl: unpadded "
        "input_ids, masked_lm_positions, masked_lm_ids",
    )
    g.add_argument("--num-shards", type=positive_int, default=1, help="default: %(default)s")
    g.add_argument("--compression", choices=("none", "gzip"), default="none")
    g.add_argument(
        "--shuffle-buffer",
        type=integer,
        default=0,
        help="shuffle the output records with a buffer this large, seeded by --seed "
        "(default: no shuffling; records come in input order, copy after copy)",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the shards of an existing, non-empty output directory",
    )


def _running_group(p) -> None:
    """running: the parallelism of the masking, the progress shown."""
    g = p.add_argument_group("running")
    g.add_argument(
        "--num-parallel-calls",
        type=positive_int,
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


def _beam_group(p) -> None:
    """Apache Beam: the runner of the job (tf_mlm.beam), its options after it."""
    g = p.add_argument_group('Apache Beam (the beam extra: pip install "tf_mlm[beam]")')
    g.add_argument(
        "--runner",
        nargs="?",
        const="DirectRunner",
        default=None,
        metavar="NAME",
        help="run the job on Apache Beam with this runner (default when given without "
        "a name: DirectRunner); every argument after it is a Beam pipeline option "
        "(--project, --region, --temp_location, --direct_num_workers, ...). The same "
        "records as without it; see docs/cli.md",
    )


def split_runner_args(argv):
    """``tf-mlm mask`` arguments -> (its own, Beam's pipeline options): the
    arguments after ``--runner [NAME]`` are Beam's.

    >>> split_runner_args(["mask", "x", "--runner", "DataflowRunner", "--project", "p"])
    (['mask', 'x', '--runner', 'DataflowRunner'], ['--project', 'p'])
    >>> split_runner_args(["mask", "x", "--runner", "--direct_num_workers=2"])
    (['mask', 'x', '--runner'], ['--direct_num_workers=2'])
    """
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg.startswith("--runner="):
            return argv[: i + 1], argv[i + 1 :]
        if arg == "--runner":
            end = i + 2 if i + 1 < len(argv) and not argv[i + 1].startswith("-") else i + 1
            return argv[:end], argv[end:]
    return argv, []


def add_inspect_parser(sub) -> None:
    """Adds ``tf-mlm inspect`` and its arguments to the sub-parsers ``sub``."""
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
        "-n",
        "--num-records",
        type=integer,
        default=3,
        help="records to show (default: %(default)s)",
    )
    p.add_argument(
        "--mask-token",
        default=None,
        help="id (or token) of the mask token (default: from metadata.json)",
    )
    p.add_argument(
        "--limit",
        type=positive_int,
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
    add_verbose(p)
