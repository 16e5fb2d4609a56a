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
        _output_group,
        _running_group,
    ):
        add_group(p)
    _beam_group(p)


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
