"""tf_mlm.hf.DataCollatorForLanguageModeling side by side with transformers'.

A BERT tokenizer is built from a small vocabulary file (no network). Outputs
are compared key by key with transformers' collator on the same examples:
everything but the random draws must be identical (keys, dtypes, shapes,
padding, the unselected tokens, ``mlm=False`` labels, errors); the draws
must follow the same law (statistical tests with fixed seeds, bounds that a
correct law passes for essentially any seed and a wrong one fails widely).
"""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from tests._stats import P_FLOOR, binomial_z, law_p, same_law_p

# tf_mlm.hf subclasses transformers' collator: it imports only where
# transformers (the test extra, the peer these tests compare with) is installed.
transformers = pytest.importorskip(
    "transformers", reason="transformers (the test extra) is not installed"
)
from tf_mlm.hf import (  # noqa: E402
    DataCollatorForLanguageModeling,
    pad_encodings,
    require_transformers,
)

HFCollator = transformers.DataCollatorForLanguageModeling

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far", "play", "run", "jump", "walk"]
PIECES = ["##s", "##ing", "##ed", "##er"]
VOCAB = SPECIALS + WORDS + PIECES


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("".join(t + "\n" for t in VOCAB))
    return str(path)


def make_tokenizer(vocab_file, padding_side="right"):
    tok = transformers.BertTokenizerFast(vocab_file)
    tok.padding_side = padding_side
    return tok


@pytest.fixture(scope="module")
def tok(vocab_file):
    return make_tokenizer(vocab_file)


def texts(rng, n, max_words=12):
    """Sentences of words, some with a suffix piece (two-token words)."""
    out = []
    for _ in range(n):
        words = []
        for _ in range(int(rng.integers(1, max_words + 1))):
            w = WORDS[int(rng.integers(len(WORDS)))]
            if rng.random() < 0.4:
                w += PIECES[int(rng.integers(len(PIECES)))][2:]
            words.append(w)
        out.append(" ".join(words))
    return out


def encodings(tok, rng, n, **kwargs):
    enc = tok(texts(rng, n), return_offsets_mapping=True, **kwargs)
    return [{k: enc[k][i] for k in enc.keys()} for i in range(n)]


def id_lists(rng, n, max_len=40, vocab=len(VOCAB)):
    """[CLS] random non-special ids [SEP], of random lengths."""
    return [
        [2, *rng.integers(5, vocab, size=int(rng.integers(0, max_len))).tolist(), 3]
        for _ in range(n)
    ]


def to_numpy(x):
    return x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else np.asarray(x)


def torch_or_skip():
    return pytest.importorskip("torch", reason="torch is not installed (optional: 'pt' tensors)")


# ---------------------------------------------------------------------------
# Same batch as transformers, but for the draws.


def assert_consistent(ours, theirs, original, special):
    """Same keys, types, dtypes, shapes and non-id values; labels -100 off the
    selected tokens and the original id on them; special tokens unselected;
    unselected ids unchanged."""
    assert list(ours.keys()) == list(theirs.keys())
    for key in theirs:
        a, b = ours[key], theirs[key]
        assert type(a) is type(b), key
        assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape), key
        if key not in ("input_ids", "labels"):
            np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=key)
    ids, labels = to_numpy(ours["input_ids"]), to_numpy(ours["labels"])
    selected = labels != -100
    np.testing.assert_array_equal(labels[selected], original[selected])
    np.testing.assert_array_equal(ids[~selected], original[~selected])
    assert not selected[special].any()


@pytest.mark.parametrize("return_tensors", ["np", "pt"])
@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("kind", ["dicts", "dicts+special_mask", "dicts+label", "lists", "arrays"])
@pytest.mark.parametrize("pad_to_multiple_of", [None, 8])
def test_batch_matches_transformers(
    vocab_file, return_tensors, padding_side, kind, pad_to_multiple_of
):
    if return_tensors == "pt":
        torch_or_skip()
    tok = make_tokenizer(vocab_file, padding_side)
    rng = np.random.default_rng(0)
    if kind.startswith("dicts"):
        examples = encodings(tok, rng, 6, return_special_tokens_mask=kind.endswith("mask"))
        for i, e in enumerate(examples):
            e.pop("offset_mapping")
            if kind == "dicts+label":  # a key tf_mlm leaves to tokenizer.pad
                e["next_sentence_label"] = i % 2
    else:
        examples = id_lists(rng, 6)
        if kind == "arrays":
            examples = [np.asarray(e, np.int32) for e in examples]
    args = dict(mlm_probability=0.5, pad_to_multiple_of=pad_to_multiple_of)
    args["return_tensors"] = return_tensors
    ours = DataCollatorForLanguageModeling(tok, seed=1, **args)(examples)
    theirs = HFCollator(tok, seed=1, **args)(examples)
    plain = HFCollator(tok, mlm=False, **args)(examples)
    original = to_numpy(plain["input_ids"])
    special = np.isin(original, tok.all_special_ids)
    if kind == "dicts+special_mask":
        special = (
            to_numpy(
                tok.pad(examples, pad_to_multiple_of=pad_to_multiple_of, return_tensors="np")[
                    "special_tokens_mask"
                ]
            )
            == 1
        )
    assert_consistent(ours, theirs, original, special)
    assert (to_numpy(ours["labels"]) != -100).any()
    # mlm=False: identical
    ours_plain = DataCollatorForLanguageModeling(tok, mlm=False, **args)(examples)
    assert list(ours_plain) == list(plain)
    for key in plain:
        np.testing.assert_array_equal(to_numpy(ours_plain[key]), to_numpy(plain[key]))


def test_special_tokens_mask_is_used_instead_of_ids(tok):
    # Given a special_tokens_mask, only it decides (as in transformers): an
    # [UNK] in the text is selectable, a position marked special is not.
    ids = [2, 1, 6, 7, 1, 3]
    mask = [1, 0, 0, 1, 0, 1]
    collate = DataCollatorForLanguageModeling(tok, mlm_probability=1.0, return_tensors="np", seed=0)
    batch = collate([{"input_ids": ids, "special_tokens_mask": mask}])
    assert (batch["labels"][0] != -100).tolist() == [False, True, True, False, True, False]
    # Without it, the tokenizer's special ids (all_special_ids) are never selected.
    batch = collate([{"input_ids": ids}])
    assert (batch["labels"][0] != -100).tolist() == [False, False, True, True, False, False]


def test_input_features_are_not_modified(tok):
    rng = np.random.default_rng(1)
    examples = encodings(tok, rng, 4)
    arrays = [np.asarray(e, np.int64) for e in id_lists(rng, 4)]
    copies = [a.copy() for a in arrays]
    collate = DataCollatorForLanguageModeling(
        tok,
        whole_word_mask=True,
        mlm_probability=1.0,
        return_tensors="np",
        whole_word_random_replace=True,
    )
    before = [dict(e) for e in examples]
    collate(examples)
    assert [dict(e) for e in examples] == before
    DataCollatorForLanguageModeling(tok, mlm_probability=1.0, return_tensors="np")(arrays)
    for a, c in zip(arrays, copies):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------------------
# Arguments and errors: transformers' messages.

BAD_ARGS = [
    dict(mlm_probability=1.5),
    dict(mlm_probability=-0.1),
    dict(mlm_probability=None),
    dict(mask_replace_prob=0.8, random_replace_prob=0.3),
    dict(mask_replace_prob=-0.1),
    dict(random_replace_prob=-0.5),
    dict(mask_replace_prob=1.5, random_replace_prob=-0.6),
    dict(mlm=False, whole_word_mask=True),
]


@pytest.mark.parametrize("kwargs", BAD_ARGS, ids=str)
def test_invalid_arguments_raise_as_transformers(tok, kwargs):
    with pytest.raises(Exception) as theirs:
        HFCollator(tok, **kwargs)
    with pytest.raises(type(theirs.value)) as ours:
        DataCollatorForLanguageModeling(tok, **kwargs)
    assert str(ours.value) == str(theirs.value)


def test_errors_at_call_and_for_missing_tokens_as_transformers(vocab_file):
    tok = make_tokenizer(vocab_file)
    for collate in (DataCollatorForLanguageModeling(tok), HFCollator(tok)):
        with pytest.raises(ValueError, match="Framework 'tf' not recognized!"):
            collate([[2, 3]], return_tensors="tf")
    no_pad = make_tokenizer(vocab_file)
    no_pad.pad_token = None
    messages = []
    for cls in (DataCollatorForLanguageModeling, HFCollator):
        with pytest.raises(ValueError) as e:
            cls(no_pad, mlm=False, return_tensors="np")([[2, 5, 3], [2, 3]])
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    no_mask = make_tokenizer(vocab_file)
    no_mask.mask_token = None
    messages = []
    for cls in (DataCollatorForLanguageModeling, HFCollator):
        with pytest.raises(ValueError) as e:
            cls(no_mask)
        messages.append(str(e.value))
    assert messages[0] == messages[1]


def test_whole_word_mask_forces_mask_replace_prob_as_transformers(tok):
    with pytest.warns(UserWarning, match="Random token replacement is not supported"):
        ours = DataCollatorForLanguageModeling(tok, whole_word_mask=True)
    with pytest.warns(UserWarning):
        theirs = HFCollator(tok, whole_word_mask=True)
    assert (ours.mask_replace_prob, ours.random_replace_prob) == (
        theirs.mask_replace_prob,
        theirs.random_replace_prob,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = DataCollatorForLanguageModeling(
            tok, whole_word_mask=True, whole_word_random_replace=True
        )
    assert (kept.mask_replace_prob, kept.random_replace_prob) == (0.8, 0.1)


def test_missing_transformers_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"tf_mlm\[hf\]"):
        require_transformers()


def test_extension_options_are_checked_by_the_core(tok):
    with pytest.raises(ValueError, match="selection_mode"):
        DataCollatorForLanguageModeling(tok, selection_mode="sometimes")
    with pytest.raises(ValueError, match="max_selections"):
        DataCollatorForLanguageModeling(tok, max_selections=-1)
    with pytest.raises(ValueError, match="replacement_frequencies"):
        DataCollatorForLanguageModeling(tok, replacement_frequencies=[1.0, 2.0])
    with pytest.raises(ValueError, match="mask_selection_length"):
        DataCollatorForLanguageModeling(tok, mask_selection_length=-1)
    with pytest.raises(ValueError, match="max_span_length"):
        DataCollatorForLanguageModeling(tok, span_p=0.2, max_span_length=0)


# ---------------------------------------------------------------------------
# The law: same as transformers'.

V = len(VOCAB)


def big_batch(seed=3, rows=400, length=64):
    rng = np.random.default_rng(seed)
    return [[2, *rng.integers(5, V, size=length - 2).tolist(), 3] for _ in range(rows)]


def test_selected_fraction_and_per_row_spread_are_bernoulli(tok):
    examples = big_batch()
    p = 0.15
    batch = DataCollatorForLanguageModeling(tok, mlm_probability=p, return_tensors="np", seed=11)(
        examples
    )
    counts = (batch["labels"] != -100).sum(axis=1)
    n = 62  # selectable tokens per row
    assert abs(binomial_z(int(counts.sum()), n * len(examples), p)) < 5
    # Per-row counts spread as Binomial(n, p) (an exact count would not).
    ratio = counts.var(ddof=1) / (n * p * (1 - p))
    assert 0.6 < ratio < 1.5
    theirs = HFCollator(tok, mlm_probability=p, return_tensors="np", seed=11)(examples)
    their_counts = (theirs["labels"] != -100).sum(axis=1)
    hist = [np.bincount(c, minlength=n + 1) for c in (counts, their_counts)]
    assert same_law_p(*hist) > P_FLOOR


def outcome_counts(batch, original, mask_id):
    ids, labels = batch["input_ids"], batch["labels"]
    selected = labels != -100
    became_mask = (ids == mask_id) & selected
    kept = (ids == original) & selected & ~became_mask
    other = selected & ~became_mask & ~kept
    return [int(became_mask.sum()), int(kept.sum()), int(other.sum())]


def test_80_10_10_replacement(tok):
    examples = big_batch(seed=4)
    original = np.array(examples)
    ours = DataCollatorForLanguageModeling(tok, mlm_probability=0.5, return_tensors="np", seed=12)(
        examples
    )
    theirs = HFCollator(tok, mlm_probability=0.5, return_tensors="np", seed=12)(examples)
    counts = outcome_counts(ours, original, tok.mask_token_id)
    # A random id is uniform over [0, V): it may be [MASK] or the original.
    law = [0.8 + 0.1 / V, 0.1 + 0.1 / V, 0.1 * (V - 2) / V]
    assert law_p(counts, law) > P_FLOOR
    assert same_law_p(counts, outcome_counts(theirs, original, tok.mask_token_id)) > P_FLOOR
    # A wrong law (90/5/5) fails by far at this size.
    assert law_p(counts, [0.9, 0.05, 0.05]) < 1e-12


def word_spans(offsets, special):
    """Per row, transformers 5's words as lists of token indices."""
    rows = []
    for off, spec in zip(offsets, special):
        words, prev_end, prev_special = [], None, True
        for t, ((start, end), s) in enumerate(zip(off, spec)):
            if s:
                prev_special = True
                continue
            if prev_special or start != prev_end:
                words.append([])
            words[-1].append(t)
            prev_end, prev_special = end, False
        rows.append(words)
    return rows


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_whole_words_from_offsets(vocab_file, padding_side):
    tok = make_tokenizer(vocab_file, padding_side)
    rng = np.random.default_rng(5)
    examples = encodings(tok, rng, 300, return_special_tokens_mask=True)
    p = 0.3
    with pytest.warns(UserWarning):
        collate = DataCollatorForLanguageModeling(
            tok, whole_word_mask=True, mlm_probability=p, return_tensors="np", seed=13
        )
    batch = collate(examples)  # examples of different lengths: ragged offsets
    width = batch["input_ids"].shape[1]
    padded = tok.pad(
        [{k: e[k] for k in ("input_ids", "special_tokens_mask")} for e in examples],
        return_tensors="np",
    )
    offsets = np.zeros((len(examples), width, 2), np.int64)
    for row, e in zip(offsets, examples):
        n = len(e["offset_mapping"])
        if padding_side == "right":
            row[:n] = e["offset_mapping"]
        else:
            row[width - n :] = e["offset_mapping"]
    words = word_spans(offsets, padded["special_tokens_mask"])
    selected = batch["labels"] != -100
    chosen = total = 0
    for b, row_words in enumerate(words):
        for w in row_words:
            flags = selected[b, w]
            assert flags.all() or not flags.any()  # whole words only
            chosen += int(flags[0])
            total += 1
    assert abs(binomial_z(chosen, total, p)) < 5
    # Words of a row are chosen independently (not as one block): most rows
    # of 4+ words mix chosen and unchosen words (P >= 1 - 0.3^4 - 0.7^4).
    long_rows = [(b, r) for b, r in enumerate(words) if len(r) >= 4]
    mixed = sum(len({bool(selected[b, w[0]]) for w in r}) == 2 for b, r in long_rows)
    assert mixed > 0.6 * len(long_rows)
    assert not selected[padded["special_tokens_mask"] == 1].any()
    # transformers' default: selected words all become [MASK]
    assert (batch["input_ids"][selected] == tok.mask_token_id).all()
    assert sum(len(w) > 1 for r in words for w in r) > 100  # multi-token words were there


def test_ragged_offsets_where_transformers_fails(tok):
    rng = np.random.default_rng(6)
    examples = encodings(tok, rng, 4)
    assert len({len(e["input_ids"]) for e in examples}) > 1
    with pytest.warns(UserWarning):
        theirs = HFCollator(tok, whole_word_mask=True, return_tensors="np")
    with pytest.raises(IndexError):  # transformers 5.23: offsets not padded
        theirs(examples)
    with pytest.warns(UserWarning):
        ours = DataCollatorForLanguageModeling(tok, whole_word_mask=True, return_tensors="np")
    assert ours(examples)["labels"].shape == ours(examples)["input_ids"].shape


def test_whole_words_need_offsets(tok):
    with pytest.warns(UserWarning):
        collate = DataCollatorForLanguageModeling(tok, whole_word_mask=True, return_tensors="np")
    with pytest.raises(ValueError, match="offset_mapping"):
        collate([[2, 5, 3]])


# ---------------------------------------------------------------------------
# Seeds: reproducible across calls, processes and DataLoader workers.

SEEDED_RUN = """
import json, sys
import numpy as np
import transformers
from tf_mlm.hf import DataCollatorForLanguageModeling
tok = transformers.BertTokenizerFast(sys.argv[1])
collate = DataCollatorForLanguageModeling(tok, mlm_probability=0.4, return_tensors="np", seed=21)
examples = [[2, *range(5, 5 + n), 3] for n in (3, 9, 15)]
print(json.dumps([collate(examples)["input_ids"].tolist() for _ in range(2)]))
"""


def test_seeded_runs_reproduce_across_processes(tok, vocab_file):
    examples = [[2, *range(5, 5 + n), 3] for n in (3, 9, 15)]
    collate = DataCollatorForLanguageModeling(
        tok, mlm_probability=0.4, return_tensors="np", seed=21
    )
    here = [collate(examples)["input_ids"].tolist() for _ in range(2)]
    assert here[0] != here[1]  # each call draws afresh
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SEEDED_RUN), vocab_file],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    import json

    assert json.loads(proc.stdout) == here
    other = DataCollatorForLanguageModeling(tok, mlm_probability=0.4, return_tensors="np", seed=22)
    assert other(examples)["input_ids"].tolist() != here[0]


def test_unseeded_follows_numpy_global_seed(tok):
    examples = big_batch(rows=4)
    collate = DataCollatorForLanguageModeling(tok, mlm_probability=0.4, return_tensors="np")
    np.random.seed(5)
    a = collate(examples)["input_ids"]
    np.random.seed(5)
    b = collate(examples)["input_ids"]
    np.testing.assert_array_equal(a, b)


def loader_batches(collate, features, **kwargs):
    torch = torch_or_skip()
    loader = torch.utils.data.DataLoader(
        features, batch_size=2, num_workers=2, collate_fn=collate, **kwargs
    )
    return torch.stack([b["input_ids"] for b in loader])


def test_seeded_dataloader_workers(tok):
    torch = torch_or_skip()
    features = [{"input_ids": [2, *range(5, 19), 3]} for _ in range(8)]
    make = lambda seed: DataCollatorForLanguageModeling(tok, mlm_probability=0.5, seed=seed)  # noqa: E731
    first = loader_batches(make(31), features, generator=torch.Generator().manual_seed(1))
    again = loader_batches(make(31), features)
    other = loader_batches(make(32), features)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    # Workers 0 and 1 (batches 0 and 1) get seed and seed + 1: other masks.
    assert not torch.equal(first[0], first[1])


# ---------------------------------------------------------------------------
# Extensions.


def test_exact_count_and_cap(tok):
    examples = [[2, *range(5, 5 + n), 3] for n in (1, 4, 10, 13)]
    batch = DataCollatorForLanguageModeling(
        tok, mlm_probability=0.3, selection_mode="exact", return_tensors="np", seed=0
    )(examples)
    counts = (batch["labels"] != -100).sum(axis=1).tolist()
    assert counts == [1, 2, 3, 4]  # ceil(n * 0.3)
    capped = DataCollatorForLanguageModeling(
        tok, mlm_probability=1.0, max_selections=2, return_tensors="np", seed=0
    )(examples)
    assert (capped["labels"] != -100).sum(axis=1).tolist() == [1, 2, 2, 2]


def test_whole_word_random_replace_keeps_the_replacement_law(tok):
    rng = np.random.default_rng(7)
    examples = encodings(tok, rng, 300)
    batch = DataCollatorForLanguageModeling(
        tok,
        whole_word_mask=True,
        whole_word_random_replace=True,
        mlm_probability=0.5,
        return_tensors="np",
        seed=3,
    )(examples)
    original = tok.pad([{"input_ids": e["input_ids"]} for e in examples], return_tensors="np")
    counts = outcome_counts(batch, original["input_ids"], tok.mask_token_id)
    assert law_p(counts, [0.8 + 0.1 / V, 0.1 + 0.1 / V, 0.1 * (V - 2) / V]) > P_FLOOR


def test_replacement_law_options(tok):
    examples = big_batch(rows=50)
    excluded = list(range(0, V, 2))
    batch = DataCollatorForLanguageModeling(
        tok,
        mlm_probability=1.0,
        mask_replace_prob=0.0,
        random_replace_prob=1.0,
        excluded_ids=excluded,
        return_tensors="np",
        seed=0,
    )(examples)
    drawn = batch["input_ids"][batch["labels"] != -100]
    assert drawn.size > 1000 and not np.isin(drawn, excluded).any()
    weights = np.zeros(V)
    weights[[6, 9]] = [1.0, 3.0]
    batch = DataCollatorForLanguageModeling(
        tok,
        mlm_probability=1.0,
        mask_replace_prob=0.0,
        random_replace_prob=1.0,
        replacement_frequencies=weights,
        return_tensors="np",
        seed=0,
    )(examples)
    drawn = batch["input_ids"][batch["labels"] != -100]
    assert set(np.unique(drawn).tolist()) == {6, 9}
    assert law_p([(drawn == 6).sum(), (drawn == 9).sum()], [1, 3]) > P_FLOOR


@pytest.mark.parametrize("return_tensors", ["np", "pt"])
def test_keras_hub_style_outputs(tok, return_tensors):
    if return_tensors == "pt":
        torch_or_skip()
    examples = [[2, *range(5, 5 + n), 3] for n in (2, 7, 12)]
    batch = DataCollatorForLanguageModeling(
        tok, mlm_probability=0.5, mask_selection_length=4, return_tensors=return_tensors, seed=2
    )(examples)
    labels = to_numpy(batch["labels"])
    positions, ids, weights = (
        to_numpy(batch[k]) for k in ("mask_positions", "mask_ids", "mask_weights")
    )
    assert positions.shape == ids.shape == weights.shape == (3, 4)
    assert positions.dtype == np.int64 and weights.dtype == np.float32
    for b in range(3):
        where = np.flatnonzero(labels[b] != -100)
        assert len(where) <= 4  # at most mask_selection_length selections per row
        k = len(where)
        np.testing.assert_array_equal(positions[b, :k], where)
        np.testing.assert_array_equal(ids[b, :k], labels[b, where])
        np.testing.assert_array_equal(weights[b], [1.0] * k + [0.0] * (4 - k))


def test_unseeded_pt_follows_torch_global_seed(tok):
    torch = torch_or_skip()
    examples = big_batch(rows=4)
    collate = DataCollatorForLanguageModeling(tok, mlm_probability=0.4)
    torch.manual_seed(5)
    a = collate(examples)["input_ids"]
    torch.manual_seed(5)
    b = collate(examples)["input_ids"]
    assert torch.equal(a, b)


def test_special_ids_and_equal_special_tokens_mask_give_the_same_batch(tok):
    # Two core paths (special tokens by id: the token pass; by position: the
    # item pass), one law and the same draws.
    examples = id_lists(np.random.default_rng(8), 16)
    special = [[int(i in tok.all_special_ids) for i in e] for e in examples]
    with_mask = [{"input_ids": e, "special_tokens_mask": s} for e, s in zip(examples, special)]
    for kwargs in (dict(), dict(selection_mode="exact", max_selections=3)):
        a = DataCollatorForLanguageModeling(
            tok, mlm_probability=0.4, return_tensors="np", seed=9, **kwargs
        )([{"input_ids": e} for e in examples])
        b = DataCollatorForLanguageModeling(
            tok, mlm_probability=0.4, return_tensors="np", seed=9, **kwargs
        )(with_mask)
        for key in ("input_ids", "labels"):
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("with_mask", [False, True])
def test_spanbert_spans(tok, with_mask):
    rng = np.random.default_rng(10)
    examples = [[2, *rng.integers(5, V, size=60).tolist(), 3] for _ in range(40)]
    if with_mask:  # position 5 of every row marked special: never in a span
        examples = [
            {"input_ids": e, "special_tokens_mask": [int(i in (0, 5, 61)) for i in range(62)]}
            for e in examples
        ]
    batch = DataCollatorForLanguageModeling(
        tok,
        mlm_probability=0.2,
        span_p=0.2,
        max_span_length=10,
        mask_replace_prob=1.0,
        random_replace_prob=0.0,
        return_tensors="np",
        seed=4,
    )(examples)
    selected = batch["labels"] != -100
    n = 59 if with_mask else 60
    assert (selected.sum(axis=1) == int(np.ceil(n * 0.2))).all()  # the token budget
    assert not selected[:, [0, 61]].any() and not (with_mask and selected[:, 5].any())
    assert (batch["input_ids"][selected] == tok.mask_token_id).all()
    ids = np.array([e["input_ids"] if with_mask else e for e in examples])
    np.testing.assert_array_equal(batch["input_ids"][~selected], ids[~selected])
    # Spans: far fewer runs than selected tokens (mean length ~ 1 / 0.2 capped).
    runs = int((np.diff(selected.astype(np.int8), axis=1) == 1).sum())
    assert runs < 0.5 * selected.sum()
    with pytest.raises(ValueError, match="span_p"):
        DataCollatorForLanguageModeling(tok, span_p=0.2, selection_mode="exact")


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("pad_to_multiple_of", [None, 8])
@pytest.mark.parametrize(
    "keys",
    [
        ("input_ids",),
        ("input_ids", "token_type_ids", "attention_mask"),
        ("special_tokens_mask", "input_ids", "token_type_ids"),
    ],
)
@pytest.mark.parametrize("as_arrays", [False, True])
def test_own_padding_equals_tokenizer_pad(
    vocab_file, padding_side, pad_to_multiple_of, keys, as_arrays
):
    tok = make_tokenizer(vocab_file, padding_side)
    examples = encodings(tok, np.random.default_rng(9), 5, return_special_tokens_mask=True)
    features = [
        {k: (np.asarray(e[k], np.int32) if as_arrays else e[k]) for k in keys} for e in examples
    ]
    ours = pad_encodings(tok, features, pad_to_multiple_of)
    theirs = tok.pad(features, pad_to_multiple_of=pad_to_multiple_of, return_tensors="np")
    assert list(ours) == list(theirs)
    for key in theirs:
        assert ours[key].dtype == theirs[key].dtype
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_own_padding_of_empty_rows_equals_tokenizer_pad(vocab_file, padding_side):
    tok = make_tokenizer(vocab_file, padding_side)
    for features in (
        [{"input_ids": []}, {"input_ids": [2, 5, 3]}],
        [{"input_ids": np.zeros(0, np.int32), "attention_mask": []}],
    ):
        ours = pad_encodings(tok, features, 4)
        theirs = tok.pad(features, pad_to_multiple_of=4, return_tensors="np")
        assert list(ours) == list(theirs)
        for key in theirs:
            assert ours[key].dtype == theirs[key].dtype
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_own_padding_leaves_other_features_to_the_tokenizer(tok):
    plain = [{"input_ids": [2, 5, 3]}, {"input_ids": [2, 3]}]
    assert pad_encodings(tok, plain, None) is not None
    # Keys the tokenizer does not pad are batched beside (test_hf_contract.py).
    assert pad_encodings(tok, [dict(e, label=1) for e in plain], None)["label"].tolist() == [1, 1]
    assert pad_encodings(tok, [{"input_ids": [2.0, 3.0]}], None) is None
    assert pad_encodings(tok, [{"input_ids": [2, 3], "attention_mask": [1]}], None) is None
