"""tf_mlm.hf's collator as transformers' class: a dataclass whose fields may
change between batches, whose hooks subclasses override, whose static
helpers exist; side by side with transformers' own class.

Each subclass or field change below is applied the same way to both
classes; what is deterministic must agree exactly, the draws by law.
"""

import copy
import dataclasses
import pickle
import warnings

import numpy as np
import pytest

from tests._stats import P_FLOOR, binomial_z, law_p

transformers = pytest.importorskip(
    "transformers", reason="transformers (the test extra) is not installed"
)
from tests.test_hf import (  # noqa: E402
    VOCAB,
    big_batch,
    encodings,
    make_tokenizer,
    to_numpy,
    torch_or_skip,
)
from tf_mlm.hf import DataCollatorForLanguageModeling, pad_encodings  # noqa: E402

HFCollator = transformers.DataCollatorForLanguageModeling
BOTH = [DataCollatorForLanguageModeling, HFCollator]
V = len(VOCAB)


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("".join(t + "\n" for t in VOCAB))
    return str(path)


@pytest.fixture
def tok(vocab_file):  # per test: some tests add tokens
    return make_tokenizer(vocab_file)


def selected(batch):
    return to_numpy(batch["labels"]) != -100


# ---------------------------------------------------------------------------
# The dataclass.


def test_is_transformers_dataclass_with_its_fields_first(tok):
    ours = DataCollatorForLanguageModeling(tok, return_tensors="np")
    assert isinstance(ours, HFCollator)
    assert isinstance(ours, transformers.data.data_collator.DataCollatorMixin)
    names = [f.name for f in dataclasses.fields(ours)]
    theirs = [f.name for f in dataclasses.fields(HFCollator)]
    assert names[: len(theirs)] == theirs
    extensions = [f for f in dataclasses.fields(ours) if f.name not in theirs]
    assert extensions and all(f.kw_only for f in extensions)
    # transformers' positional order and defaults.
    positional = DataCollatorForLanguageModeling(tok, True, False, 0.2, 0.7, 0.2, 8, "np", 3)
    assert (positional.mlm_probability, positional.pad_to_multiple_of, positional.seed) == (
        0.2,
        8,
        3,
    )
    for f in dataclasses.fields(HFCollator):
        assert getattr(ours, f.name) == getattr(HFCollator(tok, return_tensors="np"), f.name)


def test_replace_fields_pickle_and_copy(tok):
    ours = DataCollatorForLanguageModeling(tok, return_tensors="np", seed=4, max_selections=3)
    other = dataclasses.replace(ours, mlm_probability=0.5)
    assert type(other) is DataCollatorForLanguageModeling
    assert (other.mlm_probability, other.max_selections, other.seed) == (0.5, 3, 4)
    with pytest.raises(ValueError, match="mlm_probability should be between 0 and 1."):
        dataclasses.replace(ours, mlm_probability=2.0)
    examples = big_batch(rows=8)
    for clone in (pickle.loads(pickle.dumps(ours)), copy.deepcopy(ours)):
        assert clone(examples)["input_ids"].tolist() == ours(examples)["input_ids"].tolist()
        ours.generator = clone.generator = None  # both start the seeded stream again


@pytest.mark.parametrize("cls", BOTH, ids=["tf_mlm", "transformers"])
def test_dataclass_subclass_with_an_extra_field(tok, cls):
    @dataclasses.dataclass
    class WithPrompt(cls):
        prompt_length: int = 2

        def numpy_call(self, examples):
            batch = super().numpy_call(examples)
            batch["labels"][:, : self.prompt_length] = -100
            return batch

    collate = WithPrompt(tok, mlm_probability=1.0, return_tensors="np", prompt_length=3)
    assert [f.name for f in dataclasses.fields(collate)][-1] == "prompt_length"
    batch = collate(big_batch(rows=4))
    assert not selected(batch)[:, :3].any() and selected(batch)[:, 3:-1].all()
    assert dataclasses.replace(collate, prompt_length=1).prompt_length == 1


# ---------------------------------------------------------------------------
# Fields changed after construction take effect at the next batch.


def test_rates_changed_between_batches_follow_the_new_law(tok):
    examples = big_batch(seed=5)
    original = np.array(examples)
    n = original.shape[0] * (original.shape[1] - 2)
    ours = DataCollatorForLanguageModeling(tok, return_tensors="np", seed=1)
    ours(examples)
    ours.mlm_probability = 0.3
    ours.mask_replace_prob, ours.random_replace_prob = 0.5, 0.4
    batch = ours(examples)
    chosen = selected(batch)
    assert abs(binomial_z(int(chosen.sum()), n, 0.3)) < 5
    ids = batch["input_ids"]
    counts = [
        int(((ids == tok.mask_token_id) & chosen).sum()),
        int(((ids == original) & chosen).sum()),
        int(((ids != original) & (ids != tok.mask_token_id) & chosen).sum()),
    ]
    law = [0.5 + 0.4 / V, 0.1 + 0.4 / V, 0.4 * (V - 2) / V]
    assert law_p(counts, law) > P_FLOOR
    assert law_p(counts, [0.8 + 0.1 / V, 0.1 + 0.1 / V, 0.1 * (V - 2) / V]) < 1e-12
    # transformers reads the changed fields the same way.
    theirs = HFCollator(tok, return_tensors="np", seed=1)
    theirs.mlm_probability = 0.3
    assert abs(binomial_z(int(selected(theirs(examples)).sum()), n, 0.3)) < 5


@pytest.mark.parametrize("cls", BOTH, ids=["tf_mlm", "transformers"])
def test_mlm_switched_both_ways(tok, cls):
    examples = [[2, 5, 6, 7, 3], [2, 8, 3]]
    collate = cls(tok, mlm=False, return_tensors="np")
    collate.mlm = True
    collate.mlm_probability = 1.0
    batch = collate(examples)
    assert selected(batch).tolist() == [[0, 1, 1, 1, 0], [0, 1, 0, 0, 0]]
    collate.mlm = False
    batch = collate(examples)
    assert batch["labels"].tolist() == [[2, 5, 6, 7, 3], [2, 8, 3, -100, -100]]
    assert batch["input_ids"].tolist() == [[2, 5, 6, 7, 3], [2, 8, 3, 0, 0]]


def test_whole_word_mask_switched_on_after_construction(tok):
    # One length: transformers' word helpers need rectangular offsets.
    examples = encodings(
        tok, np.random.default_rng(2), 40, padding="max_length", max_length=32, truncation=True
    )
    batches = []
    for cls in BOTH:
        collate = cls(tok, mlm_probability=0.5, return_tensors="np", seed=3)
        collate.whole_word_mask = True
        batches.append(collate(examples))
    for batch in batches:
        # A word (a token and the "##" pieces after it) is selected whole.
        chosen = selected(batch)
        for row, example in enumerate(examples):
            pieces = [tok.convert_ids_to_tokens(i).startswith("##") for i in example["input_ids"]]
            for j, piece in enumerate(pieces):
                if piece:
                    assert chosen[row, j] == chosen[row, j - 1]
        assert chosen.any()
    # Rates were not forced to 1 (only the constructor does that): some
    # selected tokens are kept or replaced, as in transformers.
    for batch in batches:
        masked = (batch["input_ids"] == tok.mask_token_id) & selected(batch)
        assert masked.sum() < selected(batch).sum()


@pytest.mark.parametrize("cls", BOTH, ids=["tf_mlm", "transformers"])
def test_padding_and_tensor_fields_changed(tok, cls):
    torch = torch_or_skip()
    examples = [[2, 5, 6, 3], [2, 3]]
    collate = cls(tok, return_tensors="np")
    assert collate(examples)["input_ids"].shape == (2, 4)
    collate.pad_to_multiple_of = 8
    assert collate(examples)["input_ids"].shape == (2, 8)
    collate.return_tensors = "pt"
    assert isinstance(collate(examples)["input_ids"], torch.Tensor)
    assert isinstance(collate(examples, return_tensors="np")["labels"], np.ndarray)


@pytest.mark.parametrize("cls", BOTH, ids=["tf_mlm", "transformers"])
def test_seed_set_before_the_first_batch_is_used_and_kept(tok, cls):
    examples = big_batch(rows=6)
    a = cls(tok, return_tensors="np", mlm_probability=0.5)
    a.seed = 9
    b = cls(tok, return_tensors="np", mlm_probability=0.5, seed=9)
    assert a(examples)["input_ids"].tolist() == b(examples)["input_ids"].tolist()
    # The generator is made once: a later seed change is ignored until it is reset.
    a.seed = 10
    assert a(examples)["input_ids"].tolist() == b(examples)["input_ids"].tolist()
    a.seed, a.generator = 10, None
    c = cls(tok, return_tensors="np", mlm_probability=0.5, seed=10)
    assert a(examples)["input_ids"].tolist() == c(examples)["input_ids"].tolist()


def test_special_tokens_added_after_construction_are_never_selected(vocab_file):
    for cls in BOTH:
        tok = make_tokenizer(vocab_file)
        collate = cls(tok, mlm_probability=1.0, return_tensors="np")
        collate(big_batch(rows=2))
        tok.add_special_tokens({"additional_special_tokens": ["[NEW]"]})
        new = tok.convert_tokens_to_ids("[NEW]")
        examples = [[2, new, 5, new, 3]] * 3
        batch = collate(examples)
        assert selected(batch).tolist() == [[False, False, True, False, False]] * 3
        # Random replacements range over the grown vocabulary too.
        assert len(tok) == V + 1


# ---------------------------------------------------------------------------
# Subclass hooks: called where transformers calls them, results used.


def recording(cls, hook):
    calls = []

    class Recording(cls):
        pass

    original = getattr(cls, hook)

    def spy(self, *args, **kwargs):
        calls.append(
            [type(a).__name__ + str(getattr(a, "dtype", "")) for a in args]
            + sorted(
                f"{k}={type(v).__name__}{getattr(v, 'dtype', '')}{tuple(getattr(v, 'shape', ()))}"
                for k, v in kwargs.items()
            )
        )
        return original(self, *args, **kwargs)

    setattr(Recording, hook, spy)
    return Recording, calls


@pytest.mark.parametrize(
    "hook", ["torch_call", "numpy_call", "torch_mask_tokens", "numpy_mask_tokens"]
)
@pytest.mark.parametrize("kind", ["lists", "dicts", "dicts+special_mask", "words"])
def test_overridden_hooks_are_called_as_transformers_calls_them(vocab_file, hook, kind):
    if hook.startswith("torch"):
        torch_or_skip()
    return_tensors = "pt" if hook.startswith("torch") else "np"
    tok = make_tokenizer(vocab_file)
    rng = np.random.default_rng(4)
    if kind == "lists":
        examples = [[2, *rng.integers(5, V, 6).tolist(), 3] for _ in range(3)]
    else:  # one length: transformers cannot batch ragged offset_mapping
        examples = encodings(
            tok,
            rng,
            3,
            return_special_tokens_mask=kind.endswith("mask"),
            padding="max_length",
            max_length=24,
            truncation=True,
        )
    seen = []
    for cls in BOTH:
        sub, calls = recording(cls, hook)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            collate = sub(
                tok, whole_word_mask=kind == "words", return_tensors=return_tensors, seed=0
            )
        for _ in range(2):
            batch = collate(copy.deepcopy(examples))
        assert "labels" in batch
        seen.append(calls)
    assert len(seen[0]) == 2
    assert seen[0] == seen[1]


@pytest.mark.parametrize("return_tensors", ["np", "pt"])
def test_mask_tokens_override_result_reaches_the_batch(tok, return_tensors):
    if return_tensors == "pt":
        torch_or_skip()
    protected = 7
    hook = "torch_mask_tokens" if return_tensors == "pt" else "numpy_mask_tokens"
    examples = big_batch(rows=50)
    for cls in BOTH:

        def protect(self, inputs, special_tokens_mask=None, offset_mapping=None, _base=cls):
            keep = to_numpy(inputs) == protected
            special = keep | (to_numpy(inputs) < 5)
            if return_tensors == "pt":
                import torch

                special = torch.from_numpy(special)
            return getattr(_base, hook)(self, inputs, special_tokens_mask=special)

        sub = type("Protecting", (cls,), {hook: protect})
        batch = sub(tok, mlm_probability=0.9, return_tensors=return_tensors, seed=1)(examples)
        original = np.array(examples)
        assert (original == protected).sum() > 50
        assert not selected(batch)[original == protected].any()
        assert selected(batch).mean() > 0.5


def test_completion_only_labels(tok):
    torch = torch_or_skip()
    prompt = 4

    for cls in BOTH:

        class CompletionOnly(cls):
            def torch_call(self, examples):
                batch = super().torch_call(examples)
                batch["labels"][:, :prompt] = -100
                return batch

        batch = CompletionOnly(tok, mlm_probability=0.5, seed=2)(big_batch(rows=60))
        assert isinstance(batch["labels"], torch.Tensor)
        assert (batch["labels"][:, :prompt] == -100).all()
        assert (batch["labels"][:, prompt:] != -100).any()


def test_static_word_helpers_equal_transformers(tok):
    rng = np.random.default_rng(0)
    for _ in range(30):
        rows, width = int(rng.integers(1, 5)), int(rng.integers(1, 12))
        starts = np.cumsum(rng.integers(0, 3, (rows, width)), axis=1)
        offsets = np.stack([starts, starts + rng.integers(0, 3, (rows, width))], axis=-1)
        special = rng.random((rows, width)) < 0.2
        ours = DataCollatorForLanguageModeling._calc_word_ids_and_prob_mask(offsets, special)
        theirs = HFCollator._calc_word_ids_and_prob_mask(offsets, special)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)
        mask = rng.random((rows, width)) < 0.3
        np.testing.assert_array_equal(
            DataCollatorForLanguageModeling._whole_word_mask(ours[0], mask),
            HFCollator._whole_word_mask(theirs[0], mask),
        )


def test_overridden_word_helper_is_used(tok):
    examples = encodings(tok, np.random.default_rng(3), 20)
    calls = []

    class NoWords(DataCollatorForLanguageModeling):
        @staticmethod
        def _whole_word_mask(word_ids, mask):
            calls.append(word_ids.shape)
            return np.zeros_like(np.asarray(mask), dtype=bool)

    with pytest.warns(UserWarning):
        collate = NoWords(tok, whole_word_mask=True, return_tensors="np", mlm_probability=0.9)
    batch = collate(examples)
    assert len(calls) == 1 and not selected(batch).any()


# ---------------------------------------------------------------------------
# Keys beyond the tokenizer's, batched as tokenizer.pad batches them.


@pytest.mark.parametrize("return_tensors", ["np", "pt"])
@pytest.mark.parametrize(
    "extra",
    [
        lambda i: {"next_sentence_label": i % 2},
        lambda i: {"sentence_order_label": float(i) / 2, "weight": bool(i % 2)},
        lambda i: {"label": np.int64(i), "scores": [i, i + 1]},
    ],
    ids=["int", "float+bool", "numpy+list"],
)
@pytest.mark.parametrize("as_arrays", [False, True])
def test_extra_keys_batched_as_tokenizer_pad(tok, return_tensors, extra, as_arrays):
    if return_tensors == "pt":
        torch_or_skip()
    examples = encodings(tok, np.random.default_rng(5), 4, return_special_tokens_mask=True)
    features = []
    for i, e in enumerate(examples):
        f = {k: (np.asarray(v, np.int64) if as_arrays else v) for k, v in e.items()}
        del f["offset_mapping"]
        features.append({**f, **extra(i)})
    ours = pad_encodings(tok, features, 8, return_tensors)
    theirs = tok.pad(features, pad_to_multiple_of=8, return_tensors=return_tensors)
    assert ours is not None and type(ours) is type(theirs)
    assert list(ours) == list(theirs)
    for key in theirs:
        assert type(ours[key]) is type(theirs[key]) and ours[key].dtype == theirs[key].dtype
        np.testing.assert_array_equal(to_numpy(ours[key]), to_numpy(theirs[key]), err_msg=key)


def test_next_sentence_batch_matches_transformers(tok):
    examples = encodings(tok, np.random.default_rng(6), 5)
    for e, label in zip(examples, [0, 1, 1, 0, 1]):
        e["next_sentence_label"] = label
    ours = DataCollatorForLanguageModeling(tok, return_tensors="np")(copy.deepcopy(examples))
    theirs = HFCollator(tok, return_tensors="np")(
        [{k: v for k, v in e.items() if k != "offset_mapping"} for e in examples]
    )
    assert list(ours) == list(theirs)
    np.testing.assert_array_equal(ours["next_sentence_label"], theirs["next_sentence_label"])
    assert ours["next_sentence_label"].dtype == theirs["next_sentence_label"].dtype
