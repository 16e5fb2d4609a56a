"""``tf-mlm mask`` once its arguments are parsed: the vocabulary (or
SentencePiece model) and the ids they name, the tokenizer of raw text, the
:class:`~tf_mlm.pretraining.pipeline.MaskingConfig` (or, with ``--objective
span-corruption``, the :class:`~tf_mlm.pretraining.config.SpanCorruptionConfig`)
and the reader, the run
(:func:`tf_mlm.pretraining.pipeline.run_mask`) and its one-line summary. Bad arguments raise
:class:`~tf_mlm.pretraining.readers.InputError` (:mod:`tf_mlm.cli` turns
it into exit status 2)."""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

from tf_mlm.cli import arguments, quiet
from tf_mlm.pretraining import config as config_lib
from tf_mlm.pretraining import pipeline, progress, readers, writers
from tf_mlm.pretraining import vocab as vocab_lib

DEFAULT_MASK_TOKENS = ("[MASK]", "<mask>")


def run(args) -> int:
    """Masks ``args.inputs`` into ``args.output_dir`` and prints the summary."""
    conflict = arguments.objective_conflict(args)
    if conflict:
        raise readers.InputError(conflict)
    arguments.unmark(args)
    span = args.objective == "span-corruption"
    vocab, vocab_size, text_tokenizer = _vocabulary(args)
    if span and args.inputs_length is not None:
        args.max_seq_length = t5_raw_length(args)
    # --runner: Beam's file systems match and open the inputs.
    beam_lib = _beam_module() if getattr(args, "runner", None) else None
    reader = readers.SequenceReader(
        (beam_lib or readers).expand_inputs(args.inputs),
        input_format=args.input_format,
        feature=args.input_feature,
        vocab_size=vocab_size,
        max_seq_length=args.max_seq_length,
        long_sequences=args.long_sequences,
        text_tokenizer=text_tokenizer,
        sequence_markers=not span,  # T5's sequences have no [CLS] / [SEP]
        opener=beam_lib.open_file if beam_lib else None,
    )
    raw_only = all(fmt == "raw" for fmt in reader.formats)
    if span:
        config = span_corruption_config(args, vocab_size, vocab)
    else:
        config = masking_config(
            args, vocab, vocab_size, text_tokenizer, words_from_vocab=not raw_only
        )
    if beam_lib is not None:
        return _run_on_beam(args, beam_lib, reader, config, vocab, text_tokenizer)
    writers.check_output_dir(args.output_dir, args.overwrite)
    # Every argument, input and the output checked: now TensorFlow.
    quiet.import_tensorflow(args.verbose)
    summary = pipeline.run_mask(
        reader,
        config,
        args.output_dir,
        num_parallel_calls=args.num_parallel_calls,
        progress=progress.Progress(args.progress),
        **_output_options(args, reader, config, vocab, text_tokenizer),
    )
    summary.update(sentences=reader.stats.sentences, documents=reader.stats.documents)
    print(summary_line(summary, config, args))
    return 0


def _output_options(args, reader, config, vocab, text_tokenizer) -> Dict:
    """The output options of both engines' ``run_mask``, and what
    ``metadata.json`` records of the command line besides the run."""
    span = args.objective == "span-corruption"
    extra = {
        "vocab": vocab.path if vocab is not None else None,
        "inputs": [os.path.abspath(p) if p != "-" and "://" not in p else p for p in reader.inputs],
        "input_formats": reader.formats,
        "text_tokenizer": text_tokenizer.describe() if "raw" in reader.formats else None,
        "word_pieces": args.word_pieces if config.continuation_table is not None else None,
        "replacement_frequencies": None if span else args.replacement_frequencies,
    }
    return dict(
        output_format=args.output_format,
        num_shards=args.num_shards,
        compression="" if args.compression == "none" else "gzip",
        overwrite=args.overwrite,
        shuffle_buffer=args.shuffle_buffer,
        extra_metadata=extra,
    )


def _beam_module():
    try:
        from tf_mlm import beam
    except ImportError as e:
        raise readers.InputError(f"--runner: {e}") from None
    return beam


def _run_on_beam(args, beam_lib, reader, config, vocab, text_tokenizer) -> int:
    """``tf-mlm mask --runner``: the job on Apache Beam (:mod:`tf_mlm.beam`);
    Beam's workers log warnings and errors only, unless ``--verbose`` or an
    option of the user's says otherwise."""
    pipeline_args = list(args.pipeline_args)
    if not args.verbose and not any(
        a.startswith("--default_sdk_harness_log_level") for a in pipeline_args
    ):
        pipeline_args.append("--default_sdk_harness_log_level=WARNING")
    quiet.import_tensorflow(args.verbose)
    summary = beam_lib.run_mask(
        reader,
        config,
        args.output_dir,
        runner=args.runner,
        pipeline_args=pipeline_args,
        **_output_options(args, reader, config, vocab, text_tokenizer),
    )
    print(summary_line(summary, config, args))
    return 0


def span_corruption_config(
    args, vocab_size: int, vocab: Optional[vocab_lib.Vocabulary] = None
) -> config_lib.SpanCorruptionConfig:
    """The validated span-corruption configuration that ``args`` give. With
    a vocabulary, the sentinels are ids above it: ``--vocab-size`` must
    exceed it, and without ``--vocab-size`` T5's 100 extra ids follow it."""
    if vocab is not None:
        if args.vocab_size is None:
            vocab_size = len(vocab) + config_lib.T5_EXTRA_IDS
        elif args.vocab_size <= len(vocab):
            raise readers.InputError(
                f"--vocab-size {args.vocab_size} leaves no sentinel ids above the vocabulary "
                f"({len(vocab)} tokens): give more (T5: {len(vocab)} + 100 extra ids), or "
                "omit it for that"
            )
    config = config_lib.SpanCorruptionConfig(
        vocab_size=vocab_size,
        noise_density=args.noise_density,
        mean_noise_span_length=args.mean_noise_span_length,
        max_seq_length=args.max_seq_length,
        inputs_length=args.inputs_length,
        seed=args.seed,
        dupe_factor=args.dupe_factor,
    )
    return _validated(config)


def t5_raw_length(args) -> int:
    """T5's raw sequence length for ``--inputs-length`` (EOS included): the
    most tokens whose corrupted inputs, with EOS, fit (t5's
    ``random_spans_helper``, one sentinel per span)."""
    from tf_mlm._shared import t5_lengths

    _validated(  # the options the length depends on
        config_lib.SpanCorruptionConfig(
            vocab_size=2,
            noise_density=args.noise_density,
            mean_noise_span_length=args.mean_noise_span_length,
            inputs_length=args.inputs_length,
        )
    )
    return t5_lengths.raw_lengths(
        args.inputs_length, args.noise_density, args.mean_noise_span_length
    )[0]


def masking_config(
    args,
    vocab: Optional[vocab_lib.Vocabulary],
    vocab_size: int,
    text_tokenizer=None,
    words_from_vocab: bool = True,
) -> pipeline.MaskingConfig:
    """The validated masking configuration that ``args`` give, with the
    vocabulary and tokenizer of :func:`_vocabulary`; ``words_from_vocab``:
    whether whole words may need grouping from the vocabulary's pieces (no
    input is raw text, whose records carry their words)."""
    mask_token = _mask_token(args, vocab)
    unselectable, random_excluded = _id_lists(args, vocab, text_tokenizer)
    table = None
    if args.whole_word and vocab is not None and words_from_vocab:
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
    return _validated(config)


def _validated(config):
    """``config``, validated: a bad option is an :class:`InputError`."""
    try:
        config.validate()
    except ValueError as e:
        raise readers.InputError(str(e)) from None
    return config


def _vocabulary(args) -> Tuple[Optional[vocab_lib.Vocabulary], int, Optional[object]]:
    """The vocabulary (``--vocab``, the pieces of ``--sentencepiece-model``,
    or None), the vocabulary size, and the tokenizer of raw text (None
    without either; WordPiece's loads its library only when raw text is read)."""
    from tf_mlm.pretraining import raw_text

    if args.vocab and args.sentencepiece_model:
        raise readers.InputError("give --vocab or --sentencepiece-model, not both")
    if args.lower_case is not None and not args.vocab:
        raise readers.InputError(
            "--do-lower-case / --no-lower-case apply to raw text with --vocab (WordPiece); "
            "a SentencePiece model normalizes text itself"
        )
    tokenizer = None
    if args.sentencepiece_model:
        tokenizer = raw_text.SentencePieceTokenizer(args.sentencepiece_model)
        vocab = vocab_lib.Vocabulary(tokenizer.pieces, tokenizer.path)
    else:
        vocab = vocab_lib.Vocabulary.load(args.vocab) if args.vocab else None
        if vocab is not None:
            lower_case = True if args.lower_case is None else args.lower_case
            tokenizer = raw_text.WordPieceTokenizer(vocab.tokens, lower_case)
    if vocab is None and args.vocab_size is None:
        raise readers.InputError("give --vocab VOCAB_FILE or --vocab-size N")
    vocab_size = args.vocab_size or len(vocab)
    if vocab is not None and args.vocab_size is not None and args.vocab_size < len(vocab):
        raise readers.InputError(
            f"--vocab-size {args.vocab_size} is smaller than the vocabulary ({len(vocab)} tokens)"
        )
    return vocab, vocab_size, tokenizer


def _mask_token(args, vocab: Optional[vocab_lib.Vocabulary]) -> int:
    """``--mask-token``, else the vocabulary's [MASK] or <mask>."""
    if args.mask_token is None and vocab is None:
        raise readers.InputError("give --mask-token ID (or --vocab with a [MASK] token)")
    if args.mask_token is not None:
        return vocab_lib.resolve_id(args.mask_token, vocab, "--mask-token")
    names = [t for t in DEFAULT_MASK_TOKENS if t in vocab.tokens]
    if not names:
        raise readers.InputError(
            f"the vocabulary has no {' or '.join(DEFAULT_MASK_TOKENS)} token; give --mask-token"
        )
    return vocab.id(names[0])


def _id_lists(
    args, vocab: Optional[vocab_lib.Vocabulary], text_tokenizer=None
) -> Tuple[List[int], List[int]]:
    """The unselectable ids (default: the vocabulary's special tokens, and a
    SentencePiece model's control pieces) and the ids never drawn as random
    replacements."""
    special = vocab.special_ids() if vocab is not None else []
    if text_tokenizer is not None and text_tokenizer.special_ids:
        special = sorted(set(special) | set(text_tokenizer.special_ids))
    if args.unselectable_ids is not None:
        unselectable = vocab_lib.parse_id_list(args.unselectable_ids, vocab)
    else:
        unselectable = special
    if args.random_excluded_ids.strip() == "special":
        if vocab is None:
            raise readers.InputError("--random-excluded-ids special needs --vocab")
        random_excluded = special
    else:
        random_excluded = vocab_lib.parse_id_list(args.random_excluded_ids, vocab)
    return unselectable, random_excluded


def summary_line(summary: Dict, config: pipeline.MaskingConfig, args) -> str:
    """What ``tf-mlm mask`` prints when done: records, shards, tokens, speed."""
    seconds = summary["seconds"]
    if config.objective == "span_corruption":
        what = (
            f"{summary['noise_tokens']} noise "
            f"({summary['noise_tokens'] / max(summary['tokens'], 1):.1%}); inputs "
            f"{summary['inputs_tokens']} tokens, targets {summary['targets_tokens']}"
        )
    else:
        what = (
            f"{summary['masked_tokens']} masked "
            f"({summary['masked_tokens'] / max(summary['tokens'], 1):.1%})"
        )
    notes = [
        f"{summary[k]} {label}"
        for k, label in (
            ("truncated", "truncated"),
            ("skipped_long", "too long, skipped"),
            ("skipped_empty", "empty, skipped"),
        )
        if summary[k]
    ]
    if summary.get("sentences"):
        notes.append(
            f"packed from {summary['sentences']} sentences in {summary['documents']} documents"
        )
    return (
        f"wrote {summary['records']} records ({summary['input_records']} sequences x "
        f"{config.dupe_factor}) to {args.output_dir} in {len(summary['shards'])} "
        f"{args.output_format} shard(s): {summary['tokens']} tokens, {what}; {seconds:.1f} s, "
        f"{summary['tokens'] / max(seconds, 1e-9):,.0f} tokens/s"
        + (f" [{', '.join(notes)}]" if notes else "")
    )
