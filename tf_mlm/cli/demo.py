"""`tf-mlm demo`: masks a few built-in sentences, then times a larger batch.

Runs offline on a small WordPiece vocabulary shipped with the package.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import List, Sequence

from tf_mlm import options

SENTENCES = (
    "the quick brown fox jumps over the lazy dog",
    "bert learns deep bidirectional representations from unlabeled text",
    "we replace fifteen percent of the tokens and predict the original word from context",
    "spongebob squarepants sat on the mat with the cat",
    "masking every batch on the fly makes training data fresh every time",
)


def load_vocab() -> List[str]:
    text = resources.files("tf_mlm").joinpath("data/demo_vocab.txt").read_text()
    return [line for line in text.splitlines() if line]


def wordpiece(word: str, index: dict) -> List[int]:
    """Greedy longest-match-first WordPiece, as BERT's tokenizer does."""
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in index:
                pieces.append(index[piece])
                break
            end -= 1
        if end == start:
            return [index["[UNK]"]]
        start = end
    return pieces


def tokenize(sentences: Sequence[str], vocab: List[str]) -> List[List[List[int]]]:
    """[sentence, word, wordpiece] ids, with [CLS] and [SEP] as one-piece words."""
    index = {tok: i for i, tok in enumerate(vocab)}
    return [
        [[index["[CLS]"]]] + [wordpiece(w, index) for w in s.split()] + [[index["[SEP]"]]]
        for s in sentences
    ]


def _render(ids, vocab, highlight=()) -> str:
    out = []
    for pos, i in enumerate(ids):
        tok = vocab[i]
        out.append(
            f"\033[1m{tok}\033[0m"
            if pos in highlight and _tty()
            else (f"<{tok}>" if pos in highlight else tok)
        )
    return " ".join(out)


def _tty() -> bool:
    import sys

    return sys.stdout.isatty()


def run(rows: int = 4096, seed: int = 42) -> None:
    import numpy as np
    import tensorflow as tf

    import tf_mlm

    vocab = load_vocab()
    special = [vocab.index(t) for t in ("[PAD]", "[CLS]", "[SEP]", "[UNK]")]
    mask_id = vocab.index("[MASK]")
    words = tf.ragged.constant(tokenize(SENTENCES, vocab), dtype=tf.int64)
    tokens = words.merge_dims(1, 2)
    # A high rate so that a short demo sentence shows several masks.
    selector = tf_mlm.RandomItemSelector(
        max_selections_per_batch=20, selection_rate=0.3, unselectable_ids=special
    )
    chooser = tf_mlm.MaskValuesChooser(len(vocab), mask_id)  # BERT's 80/10/10
    stateless = tf.constant([seed, 0], tf.int64)

    print(
        f"tf_mlm {tf_mlm.__version__} on TensorFlow {tf.__version__}; "
        f"op library: {tf_mlm.get_library_path()}"
    )
    print(
        f"vocabulary: {len(vocab)} wordpieces; selection_rate=0.3, 80% [MASK] / 10% random "
        f"/ 10% kept; <...> marks the selected tokens\n"
    )
    for title, inp in (
        ("token-level masking, [batch, (wordpieces)], axis=1", tokens),
        ("whole-word masking, [batch, (words), (wordpieces)], axis=1", words),
    ):
        masked, positions, labels = tf_mlm.mask_language_model(
            inp, selector, chooser, seed=stateless
        )
        print(f"== {title}")
        for row in range(len(SENTENCES)):
            pos = positions[row].numpy().tolist()
            print("  before:", _render(tokens[row].numpy(), vocab))
            print("  after: ", _render(masked[row].numpy(), vocab, set(pos)))
            print("  masked_positions:", pos, " labels:", [vocab[i] for i in labels[row].numpy()])
        print()

    rng = np.random.default_rng(seed)
    lengths = rng.integers(128, 513, size=rows)
    values = rng.integers(len(special) + 1, len(vocab), size=int(lengths.sum()))
    batch = tf.RaggedTensor.from_row_lengths(values, lengths)
    big_selector = tf_mlm.RandomItemSelector(76, options.SELECTION_RATE, unselectable_ids=special)
    fn = tf.function(lambda x: tf_mlm.mask_language_model(x, big_selector, chooser))
    fn(batch)  # trace
    repeats = 10
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn(batch)
    _ = out[0].flat_values.numpy()
    elapsed = (time.perf_counter() - start) / repeats
    n_tokens = int(lengths.sum())
    n_masked = int(out[1].flat_values.shape[0])
    print(
        f"== throughput: one batch of {rows:,} generated rows of 128-512 tokens, "
        f"{n_tokens:,} tokens, {n_masked:,} masked ({n_masked / n_tokens:.1%})"
    )
    print(
        f"  tf.function: {elapsed * 1e3:.2f} ms per batch of {rows:,} rows "
        f"(mean of {repeats} calls), {n_tokens / elapsed / 1e6:.1f} M tokens/s"
    )
