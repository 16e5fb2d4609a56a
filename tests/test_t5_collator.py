"""tf_mlm.hf.DataCollatorForT5MLM and compute_input_and_target_lengths: the
drop-ins for the collator of transformers' Flax T5 example
(examples/flax/language-modeling/run_t5_mlm_flax.py).

The expected values marked "the example's" were computed by running that
file's ``FlaxDataCollatorForT5MLM`` and ``compute_input_and_target_lengths``
(transformers' examples/flax as of 2025; loaded as
``load_example`` of benchmarks/bench_t5_collator.py loads them) on the same
inputs.
"""

import itertools

import numpy as np
import pytest

from tests import _stats
from tf_mlm.t5_collator import (
    DataCollatorForT5MLM,
    compute_input_and_target_lengths,
    noise_counts,
)

VOCAB = 32100
EOS, PAD = 1, 0


class Tokenizer:
    """What the collator reads of a tokenizer: its length and EOS id."""

    def __init__(self, size=VOCAB, eos=EOS, pad=PAD):
        self.size, self.eos_token_id, self.pad_token_id = size, eos, pad

    def __len__(self):
        return self.size


def make(length=568, density=0.15, mean=3.0, tokenizer=None, **extensions):
    """A collator for examples of ``length`` tokens, its lengths from the law."""
    noise, spans = noise_counts(length, density, mean)
    return DataCollatorForT5MLM(
        tokenizer=tokenizer or Tokenizer(),
        noise_density=density,
        mean_noise_span_length=mean,
        input_length=length - noise + spans + 1,
        target_length=noise + spans + 1,
        pad_token_id=PAD,
        decoder_start_token_id=PAD,
        **extensions,
    )


def transformers_or_skip():
    """transformers (the test extra; not on Python < 3.11): tf_mlm.hf, the
    BatchEncoding batches, a real tokenizer. Without it the collator gives
    dicts (test_works_without_tensorflow_seqio_or_transformers)."""
    return pytest.importorskip(
        "transformers", reason="transformers (the test extra) is not installed"
    )


def examples(rows=4, length=568, seed=0, dtype=np.int64, **extra):
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, 30000, size=(rows, length)).astype(dtype)
    return [
        dict({"input_ids": row}, **{k: v[i] for k, v in extra.items()}) for i, row in enumerate(ids)
    ]


def sentinel_count(rows, size=VOCAB, most=1000):
    """Sentinels per row: the ids among the ``most`` highest of ``size``."""
    return (np.asarray(rows) >= size - most).sum(axis=-1)


def reconstruct(input_ids, labels, size=VOCAB):
    """The original row from a row of inputs and of labels (EOS dropped):
    each sentinel of the inputs stands for the labels' tokens after the same
    sentinel."""
    spans, current = {}, None
    for token in labels[:-1]:
        if token >= size - 1000:
            current = spans.setdefault(int(token), [])
        else:
            current.append(int(token))
    out = []
    for token in input_ids[:-1]:
        out.extend(spans[int(token)] if token >= size - 1000 else [int(token)])
    return out


def compositions(mask):
    """(non-noise run lengths, noise run lengths) of a mask, in order."""
    mask = np.asarray(mask, bool)
    starts = np.concatenate([[0], np.flatnonzero(mask[1:] != mask[:-1]) + 1])
    runs = np.diff(np.concatenate([starts, [len(mask)]]))
    noise = mask[starts]
    return tuple(runs[~noise].tolist()), tuple(runs[noise].tolist())


# -- compute_input_and_target_lengths --------------------------------------------

# the example's compute_input_and_target_lengths(inputs_length, density, mean)
EXAMPLE_LENGTHS = {
    (16, 0.15, 1.0): (16, 5), (16, 0.15, 3.0): (17, 5), (16, 0.15, 8.0): (18, 4),
    (16, 0.3, 1.0): (16, 11), (16, 0.3, 3.0): (19, 9), (16, 0.3, 8.0): (20, 8),
    (16, 0.5, 1.0): (16, 17), (16, 0.5, 3.0): (22, 16), (16, 0.5, 8.0): (26, 16),
    (100, 0.15, 1.0): (100, 31), (100, 0.15, 3.0): (110, 22), (100, 0.15, 8.0): (114, 20),
    (100, 0.3, 1.0): (100, 61), (100, 0.3, 3.0): (124, 50), (100, 0.3, 8.0): (134, 46),
    (100, 0.5, 1.0): (100, 101), (100, 0.5, 3.0): (148, 100), (100, 0.5, 8.0): (176, 100),
    (512, 0.15, 1.0): (512, 155), (512, 0.15, 3.0): (568, 114), (512, 0.15, 8.0): (588, 100),
    (512, 0.3, 1.0): (512, 309), (512, 0.3, 3.0): (639, 257), (512, 0.3, 8.0): (693, 235),
    (512, 0.5, 1.0): (512, 513), (512, 0.5, 3.0): (766, 512), (512, 0.5, 8.0): (908, 512),
    (1024, 0.15, 1.0): (1024, 309), (1024, 0.15, 3.0): (1137, 229),
    (1024, 0.15, 8.0): (1178, 200), (1024, 0.3, 1.0): (1024, 615),
    (1024, 0.3, 3.0): (1279, 513), (1024, 0.3, 8.0): (1387, 469),
    (1024, 0.5, 1.0): (1024, 1025), (1024, 0.5, 3.0): (1534, 1024),
    (1024, 0.5, 8.0): (1818, 1024),
}  # fmt: skip


def test_lengths_equal_the_examples():
    for args, expected in EXAMPLE_LENGTHS.items():
        got = compute_input_and_target_lengths(*args)
        assert got == expected, args
        assert all(type(x) is int for x in got)


def t5_lengths(tokens, density, mean):
    """t5's random_spans_helper arithmetic: (inputs, targets) of a raw
    sequence, a sentinel per span and EOS on both."""
    noise = int(round(tokens * density))
    spans = int(round(noise / mean))
    return tokens - noise + spans + 1, noise + spans + 1


@pytest.mark.parametrize(
    "inputs_length,density,mean",
    list(itertools.product((64, 128, 512, 626, 1024), (0.1, 0.15, 0.3, 0.45), (2.0, 3.0, 5.0))),
)
def test_lengths_are_the_longest_that_fit(inputs_length, density, mean):
    tokens, targets = compute_input_and_target_lengths(inputs_length, density, mean)
    assert t5_lengths(tokens, density, mean)[0] <= inputs_length
    assert t5_lengths(tokens + 1, density, mean)[0] > inputs_length
    assert targets == t5_lengths(tokens, density, mean)[1]


def test_lengths_half_density_keeps_targets_at_most_inputs():
    tokens, targets = compute_input_and_target_lengths(512, 0.5, 3.0)
    uncut = t5_lengths(tokens + 1, 0.5, 3.0)
    assert uncut[1] > uncut[0] and (tokens, targets) == (766, 512)


@pytest.mark.parametrize("inputs_length,density,mean", [(512, 0.15, 3.0), (128, 0.3, 2.0)])
def test_lengths_make_batches_of_the_input_and_target_lengths(inputs_length, density, mean):
    tokens, targets = compute_input_and_target_lengths(inputs_length, density, mean)
    collate = DataCollatorForT5MLM(Tokenizer(), density, mean, inputs_length, targets, PAD, PAD)
    batch = collate(examples(3, tokens))
    assert batch["input_ids"].shape == (3, inputs_length)
    assert batch["labels"].shape == (3, targets)


# -- the batch ----------------------------------------------------------------------

EXAMPLE_FIELDS = [
    "tokenizer",
    "noise_density",
    "mean_noise_span_length",
    "input_length",
    "target_length",
    "pad_token_id",
    "decoder_start_token_id",
]


def test_exported_from_hf():
    transformers_or_skip()
    from tf_mlm import hf

    assert hf.DataCollatorForT5MLM is DataCollatorForT5MLM
    assert hf.compute_input_and_target_lengths is compute_input_and_target_lengths
    assert {"DataCollatorForT5MLM", "compute_input_and_target_lengths"} <= set(hf.__all__)


def test_fields_are_the_examples():
    import dataclasses

    names = [f.name for f in dataclasses.fields(DataCollatorForT5MLM)]
    assert names[:7] == EXAMPLE_FIELDS
    # positional, as the example's
    collate = DataCollatorForT5MLM(Tokenizer(), 0.15, 3.0, 512, 114, PAD, PAD)
    assert collate(examples(2))["input_ids"].shape == (2, 512)


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_batch_structure_is_the_examples(dtype):
    attention = np.ones((4, 568), np.int32)
    batch = make()(examples(4, dtype=dtype, attention_mask=attention))
    # the example's batch for these examples (int64 or int32 ids)
    try:
        from transformers import BatchEncoding as container
    except ImportError:  # no transformers: a dict
        container = dict
    assert type(batch) is container
    assert list(batch.keys()) == ["input_ids", "attention_mask", "labels", "decoder_input_ids"]
    shapes = {k: (type(v), v.dtype, v.shape) for k, v in batch.items()}
    assert shapes == {
        "input_ids": (np.ndarray, np.int64, (4, 512)),
        "attention_mask": (np.ndarray, np.int32, (4, 568)),
        "labels": (np.ndarray, np.int64, (4, 114)),
        "decoder_input_ids": (np.ndarray, np.int64, (4, 114)),
    }
    np.testing.assert_array_equal(batch["attention_mask"], attention)


def test_examples_as_lists():
    batch = make(20, tokenizer=Tokenizer(100))([{"input_ids": list(range(2, 22))}] * 3)
    assert batch["input_ids"].dtype == np.int64 and batch["input_ids"].shape == (3, 19)


def test_eos_sentinels_and_decoder_inputs():
    collate = make()
    collate.decoder_start_token_id = 7
    batch = collate(examples(4))
    assert (batch["input_ids"][:, -1] == EOS).all() and (batch["labels"][:, -1] == EOS).all()
    # the k-th span of a row is len(tokenizer) - k, in inputs and labels alike
    for key in ("input_ids", "labels"):
        for row in batch[key]:
            sentinels = row[row >= VOCAB - 1000]
            np.testing.assert_array_equal(sentinels, VOCAB - 1 - np.arange(len(sentinels)))
    assert (batch["labels"][:, 0] == VOCAB - 1).all()  # rows start with non-noise
    np.testing.assert_array_equal(batch["decoder_input_ids"][:, 0], 7)
    np.testing.assert_array_equal(batch["decoder_input_ids"][:, 1:], batch["labels"][:, :-1])


@pytest.mark.parametrize(
    "length,density,mean",
    [
        (568, 0.15, 3.0),
        (20, 0.15, 3.0),
        (40, 0.5, 4.0),
        (33, 0.3, 1.0),
        (10, 0.9, 2.0),
        (7, 0.01, 3),  # where the example fails (IndexError), its clamp: 1 noise token
    ],
)
def test_counts_follow_the_law_and_labels_reconstruct(length, density, mean):
    noise, spans = noise_counts(length, density, mean)
    drawn = int(np.round(length * density))
    assert noise == min(max(drawn, 1), length - 1)
    assert spans == max(int(np.round(min(noise, length - drawn) / mean)), 1)
    rows = examples(16, length, seed=length)
    batch = make(length, density, mean, seed=1)(rows)
    np.testing.assert_array_equal(sentinel_count(batch["input_ids"]), spans)
    np.testing.assert_array_equal(sentinel_count(batch["labels"]), spans)
    for example, ids, labels in zip(rows, batch["input_ids"], batch["labels"]):
        assert reconstruct(ids, labels) == example["input_ids"].tolist()


def test_counts_over_a_grid_of_lengths():
    # the kernel counts in float32 (t5's arithmetic): the collator hands it a
    # density and mean that give the example's float64 counts, every time
    for length in [*range(2, 200), 511, 568, 1000, 4097, 65536]:
        for density, mean in ((0.15, 3.0), (0.5, 1.0), (0.8, 2.5), (0.05, 8.0)):
            noise, spans = noise_counts(length, density, mean)
            if spans > length - noise:  # more spans than non-noise tokens: an error
                continue
            batch = make(length, density, mean, tokenizer=Tokenizer(10**6), seed=length)(
                [{"input_ids": np.arange(2, 2 + length)}]
            )
            assert sentinel_count(batch["input_ids"], 10**6, 10**5).tolist() == [spans]
            assert batch["labels"].shape == (1, noise + spans + 1)


# the example's (noise tokens, spans) of rows of these lengths, from its
# random_spans_noise_mask
EXAMPLE_COUNTS = {
    (33, 0.3, 1.0): (10, 10),
    (568, 0.15, 3.0): (85, 28),
    (20, 0.15, 3.0): (3, 1),
    (40, 0.5, 2.0): (20, 10),
    (10, 0.9, 2.0): (9, 1),
}


def test_counts_equal_the_examples():
    for (length, density, mean), expected in EXAMPLE_COUNTS.items():
        assert noise_counts(length, density, mean) == expected
        mask = make(length, density, mean, seed=0).random_spans_noise_mask(length)
        assert mask.dtype == np.bool_ and mask.shape == (length,)
        assert (int(mask.sum()), len(compositions(mask)[1])) == expected


def mask_sample(length, density, mean, rows, seed):
    """Noise masks of the fused path: recovered from the inputs (a row of
    distinct ids, so a missing id is a noise token)."""
    collate = make(length, density, mean, seed=seed)
    batch = collate([{"input_ids": np.arange(2, 2 + length)}] * rows)
    masks = np.ones((rows, length), bool)
    for r, row in enumerate(batch["input_ids"]):
        kept = row[(row >= 2) & (row < 2 + length)] - 2
        masks[r, kept] = False
    return masks


def composition_counts(masks, parts, total):
    """Counts of each composition of ``total`` into ``parts`` parts among the
    masks' noise lengths and non-noise lengths, and of their pairs."""
    cuts = itertools.combinations(range(1, total), parts - 1)
    table = [tuple(np.diff((0, *c, total)).tolist()) for c in cuts]
    index = {c: i for i, c in enumerate(table)}
    noise = np.zeros(len(table), np.int64)
    nonnoise = np.zeros(len(table), np.int64)
    pairs = np.zeros((len(table), len(table)), np.int64)
    for mask in masks:
        a, b = compositions(mask)
        nonnoise[index[a]] += 1
        noise[index[b]] += 1
        pairs[index[a], index[b]] += 1
    return noise, nonnoise, pairs


def test_law_two_spans_all_mask_pairs_uniform():
    # rows of 20, density 0.5, mean 5: 10 noise tokens in 2 spans; the 9 x 9
    # (non-noise, noise) compositions equally likely (the example's law)
    masks = mask_sample(20, 0.5, 5.0, 8100, seed=11)
    noise, nonnoise, pairs = composition_counts(masks, 2, 10)
    assert _stats.uniform_p(pairs.ravel()) > _stats.P_FLOOR
    assert _stats.uniform_p(noise) > _stats.P_FLOOR
    assert _stats.uniform_p(nonnoise) > _stats.P_FLOOR
    # a wrong law fails: the noise compositions (1, 9) ... (9, 1) tilted by +-20%
    assert _stats.law_p(noise, np.linspace(0.8, 1.2, 9)) < _stats.P_FLOOR


def test_law_three_spans_compositions_uniform():
    # rows of 20, density 0.5, mean 10/3: 3 spans; 36 compositions of 10 each
    masks = mask_sample(20, 0.5, 10 / 3, 7200, seed=12)
    noise, nonnoise, _ = composition_counts(masks, 3, 10)
    assert noise.sum() == 7200
    assert _stats.uniform_p(noise) > _stats.P_FLOOR
    assert _stats.uniform_p(nonnoise) > _stats.P_FLOOR
    # independence of the two compositions (2 x 2: first part short / long)
    first_noise = np.array([compositions(m)[1][0] <= 3 for m in masks])
    first_nonnoise = np.array([compositions(m)[0][0] <= 3 for m in masks])
    table = [
        np.bincount(first_nonnoise[first_noise], minlength=2),
        np.bincount(first_nonnoise[~first_noise], minlength=2),
    ]
    assert _stats.same_law_p(*table) > _stats.P_FLOOR


def test_hook_mask_law_equals_the_batch_law():
    collate = make(20, 0.5, 5.0, seed=13)
    masks = np.array([collate.random_spans_noise_mask(20) for _ in range(4050)])
    hook = composition_counts(masks, 2, 10)[2].ravel()
    fused = composition_counts(mask_sample(20, 0.5, 5.0, 4050, seed=14), 2, 10)[2].ravel()
    assert _stats.same_law_p(hook, fused) > _stats.P_FLOOR


# -- the example's helpers ------------------------------------------------------------

MASK = np.array([[0, 1, 1, 0, 0, 1, 0, 1, 1, 1], [1, 0, 0, 0, 1, 1, 0, 0, 0, 1]], np.int8)
# the example's create_sentinel_ids(MASK) with a tokenizer of 32100 ids
EXAMPLE_SENTINELS = [
    [0, 32099, -1, 0, 0, 32098, 0, 32097, -1, -1],
    [32099, 0, 0, 0, 32098, -1, 0, 0, 0, 32097],
]


def test_create_sentinel_ids_is_the_examples():
    out = make().create_sentinel_ids(MASK)
    assert out.dtype == np.int64
    assert out.tolist() == EXAMPLE_SENTINELS


def test_filter_input_ids_is_the_examples():
    ids = np.arange(10, 30).reshape(2, 10)
    sentinels = np.array(EXAMPLE_SENTINELS)
    sentinels[1] = [32099, -1, 0, 0, 32098, -1, 0, 0, 32097, -1]  # 7 kept per row
    for dtype in (np.int64, np.int32):
        out = make().filter_input_ids(ids.astype(dtype), sentinels)
        assert out.dtype == np.int64  # the example's, for int64 sentinels
        assert out.tolist() == [
            [10, 32099, 13, 14, 32098, 16, 32097, EOS],
            [32099, 22, 23, 32098, 26, 27, 32097, EOS],
        ]


class FixedMask(DataCollatorForT5MLM):
    def random_spans_noise_mask(self, length):
        return np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 1], bool)[:length]


def test_overridden_noise_mask_is_used():
    collate = FixedMask(Tokenizer(100), 0.15, 3.0, 10, 8, PAD, 0)
    batch = collate([{"input_ids": np.arange(10, 20)}, {"input_ids": np.arange(20, 30)}])
    assert batch["input_ids"].tolist() == [
        [10, 11, 99, 14, 15, 16, 98, 18, 97, EOS],
        [20, 21, 99, 24, 25, 26, 98, 28, 97, EOS],
    ]
    assert batch["labels"].tolist() == [
        [99, 12, 13, 98, 17, 97, 19, EOS],
        [99, 22, 23, 98, 27, 97, 29, EOS],
    ]
    assert batch["decoder_input_ids"][0].tolist() == [0, 99, 12, 13, 98, 17, 97, 19]


def test_helper_set_on_the_instance_is_used():
    collate = DataCollatorForT5MLM(Tokenizer(100), 0.15, 3.0, 10, 8, PAD, 0)
    collate.random_spans_noise_mask = lambda length: FixedMask.random_spans_noise_mask(
        collate, length
    )
    batch = collate([{"input_ids": np.arange(10, 20)}])
    assert batch["input_ids"].tolist() == [[10, 11, 99, 14, 15, 16, 98, 18, 97, EOS]]


def test_overridden_helpers_are_called_as_the_example_calls_them():
    calls = []

    class Spy(DataCollatorForT5MLM):
        def create_sentinel_ids(self, mask_indices):
            calls.append(("create_sentinel_ids", mask_indices.dtype, mask_indices.shape))
            return super().create_sentinel_ids(mask_indices)

        def filter_input_ids(self, input_ids, sentinel_ids):
            calls.append(("filter_input_ids", input_ids.shape, sentinel_ids.shape))
            return super().filter_input_ids(input_ids, sentinel_ids)

    rows = examples(3, 568)
    collate = Spy(Tokenizer(), 0.15, 3.0, 512, 114, PAD, PAD, seed=2)
    batch = collate(rows)
    assert calls == [
        ("create_sentinel_ids", np.int8, (3, 568)),
        ("create_sentinel_ids", np.int8, (3, 568)),
        ("filter_input_ids", (3, 568), (3, 568)),
        ("filter_input_ids", (3, 568), (3, 568)),
    ]
    for example, ids, labels in zip(rows, batch["input_ids"], batch["labels"]):
        assert reconstruct(ids, labels) == example["input_ids"].tolist()


def test_overriding_sentinels_changes_the_batch():
    class Offset(DataCollatorForT5MLM):
        def create_sentinel_ids(self, mask_indices):
            out = super().create_sentinel_ids(mask_indices)
            return np.where(out > 0, out - 50, out)

    batch = Offset(Tokenizer(100), 0.15, 3.0, 19, 5, PAD, PAD, seed=0)(
        [{"input_ids": np.arange(2, 22)}]
    )
    assert batch["labels"][0, 0] == 49 and 49 in batch["input_ids"][0]


# -- fields, seeds, tensors -------------------------------------------------------------


def test_fields_changed_after_construction_take_effect():
    collate = make(40, 0.15, 3.0, seed=0)
    rows = examples(2, 40)
    assert collate(rows)["input_ids"].shape == (2, 37)  # 6 noise tokens in 2 spans
    collate.noise_density, collate.mean_noise_span_length = 0.5, 2.0  # 20 in 10
    collate.input_length, collate.target_length = 31, 31
    batch = collate(rows)
    np.testing.assert_array_equal(sentinel_count(batch["input_ids"]), 10)
    collate.tokenizer = Tokenizer(40000, eos=5)
    batch = collate(rows)
    assert batch["labels"][0, 0] == 39999 and (batch["labels"][:, -1] == 5).all()
    collate.pad_token_id = 3
    collate.decoder_start_token_id = 4
    assert (collate(rows)["decoder_input_ids"][:, 0] == 4).all()


def test_seed_changed_after_construction_restarts_the_stream():
    rows = examples(2)
    a = make(seed=1)
    first = a(rows)["input_ids"]
    a.seed = 2
    assert not np.array_equal(a(rows)["input_ids"], make(seed=1)(rows)["input_ids"])
    a.seed = 1
    np.testing.assert_array_equal(a(rows)["input_ids"], first)


@pytest.mark.parametrize(
    "field,key,got,want",
    [("input_length", "input_ids", 512, 500), ("target_length", "labels", 114, 100)],
)
def test_length_errors_are_the_examples(field, key, got, want):
    collate = make()
    setattr(collate, field, want)
    with pytest.raises(ValueError) as e:
        collate(examples(2))
    assert str(e.value) == (
        f"`{key}` are incorrectly preprocessed. `{key}` length is {got}, but should be {want}."
    )


def test_other_errors():
    with pytest.raises(ValueError, match="return_tensors"):
        make(return_tensors="tf")
    collate = make()
    collate.return_tensors = "jax"
    with pytest.raises(ValueError, match="return_tensors"):
        collate(examples(1))
    for seed in (1.5, (1, 2), True):
        with pytest.raises(TypeError, match="seed"):
            make(seed=seed)
    with pytest.raises(ValueError):  # rows of different lengths, as np.array refuses them
        make()([{"input_ids": [1, 2, 3]}, {"input_ids": [1, 2]}])
    with pytest.raises(ValueError, match=r"\[batch, length\]"):
        make()([{"input_ids": 5}])
    with pytest.raises(TypeError, match="integer ids"):
        make()(examples(2, dtype=np.float64))
    with pytest.raises(ValueError, match="noise spans"):  # more spans than noise tokens
        make(20, 0.5, 0.5)(examples(1, 20))


def test_np_random_seed_repeats_runs():
    rows = examples(3)
    collate = make()
    np.random.seed(7)
    a, b = collate(rows), collate(rows)
    np.random.seed(7)
    c, d = collate(rows), collate(rows)
    np.testing.assert_array_equal(a["input_ids"], c["input_ids"])
    np.testing.assert_array_equal(b["labels"], d["labels"])
    assert not np.array_equal(a["input_ids"], b["input_ids"])
    # the helper's masks too
    np.random.seed(8)
    m1 = DataCollatorForT5MLM.random_spans_noise_mask(collate, 50)
    np.random.seed(8)
    np.testing.assert_array_equal(DataCollatorForT5MLM.random_spans_noise_mask(collate, 50), m1)


def test_seed_repeats_and_streams():
    rows = examples(3)
    a, b = make(seed=5), make(seed=5)
    a1, a2 = a(rows), a(rows)
    b1, b2 = b(rows), b(rows)
    np.testing.assert_array_equal(a1["input_ids"], b1["input_ids"])
    np.testing.assert_array_equal(a2["labels"], b2["labels"])
    assert not np.array_equal(a1["input_ids"], a2["input_ids"])
    assert not np.array_equal(make(seed=6)(rows)["input_ids"], a1["input_ids"])
    # NumPy's global state is left alone
    state = np.random.get_state()[1].copy()
    make(seed=5)(rows)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(
        make(seed=g1)(rows)["input_ids"], make(seed=g2)(rows)["input_ids"]
    )


def test_return_tensors_pt():
    torch = pytest.importorskip("torch", reason="torch is not installed (optional: 'pt' tensors)")
    attention = np.ones((2, 568), np.int32)
    batch = make(seed=3, return_tensors="pt")(examples(2, attention_mask=attention))
    assert {k: v.dtype for k, v in batch.items()} == {
        "input_ids": torch.int64,
        "attention_mask": torch.int32,
        "labels": torch.int64,
        "decoder_input_ids": torch.int64,
    }
    ref = make(seed=3)(examples(2, attention_mask=attention))
    for key, value in batch.items():
        np.testing.assert_array_equal(value.numpy(), ref[key])


def test_torch_data_loader():
    torch = pytest.importorskip("torch", reason="torch is not installed (optional: 'pt' tensors)")
    rows = [examples(1)[0]] * 8  # the same row: different masks in each batch
    collate = make(seed=9, return_tensors="pt")
    loader = torch.utils.data.DataLoader(rows, batch_size=4, collate_fn=collate)
    first, second = [b["input_ids"] for b in loader]
    assert first.shape == second.shape == (4, 512)
    assert not torch.equal(first, second)


def test_seeded_streams_differ_between_data_loader_workers(monkeypatch):
    torch = pytest.importorskip("torch", reason="torch is not installed (optional: 'pt' tensors)")
    rows = examples(2)
    main = make(seed=9)(rows)["input_ids"]
    batches = []
    for worker in (0, 1, 0):
        info = type("WorkerInfo", (), {"id": worker})()
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda info=info: info)
        batches.append(make(seed=9)(rows)["input_ids"])
    assert not np.array_equal(batches[0], batches[1])
    assert not np.array_equal(batches[0], main)
    np.testing.assert_array_equal(batches[0], batches[2])


def test_with_a_t5_tokenizer(tmp_path):
    spm = pytest.importorskip("sentencepiece")
    T5Tokenizer = transformers_or_skip().T5Tokenizer

    words = "the a of to and in is was cat dog sat on mat deep model mask token word".split()
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(words, 12)) for _ in range(300)]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(tmp_path / "spiece"),
        vocab_size=40,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        minloglevel=2,
    )
    tok = T5Tokenizer.from_pretrained(str(tmp_path), extra_ids=10)
    ids = tok(" ".join(lines[:4]), add_special_tokens=False)["input_ids"][:40]
    tokens, targets = compute_input_and_target_lengths(36, 0.15, 3.0)
    collate = DataCollatorForT5MLM(tok, 0.15, 3.0, 36, targets, tok.pad_token_id, tok.pad_token_id)
    batch = collate([{"input_ids": ids[:tokens]}])
    text = tok.decode(batch["labels"][0])
    assert text.startswith("<extra_id_0>") and text.endswith("</s>")
    assert "<extra_id_0>" in tok.decode(batch["input_ids"][0])


def test_works_without_tensorflow_seqio_or_transformers():
    from tests.test_no_tensorflow import run_python

    proc = run_python("""
        import sys
        for name in ("tensorflow", "seqio", "t5", "transformers"):
            sys.modules[name] = None  # any import of them now raises ImportError
        import numpy as np
        from tf_mlm.t5_collator import DataCollatorForT5MLM, compute_input_and_target_lengths

        class Tokenizer:
            eos_token_id = 1
            def __len__(self):
                return 32100

        tokens, targets = compute_input_and_target_lengths(64, 0.15, 3.0)
        collate = DataCollatorForT5MLM(Tokenizer(), 0.15, 3.0, 64, targets, 0, 0, seed=0)
        batch = collate([{"input_ids": np.arange(2, 2 + tokens)}] * 2)
        assert type(batch) is dict, type(batch)  # transformers' BatchEncoding when installed
        assert batch["input_ids"].shape == (2, 64), batch["input_ids"].shape
        for name in ("torch", "jax", "keras"):
            assert name not in sys.modules, name
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


STAND_IN_EXAMPLE = """
import this_module_does_not_exist  # the rest of the example is not run


def compute_input_and_target_lengths(inputs_length, noise_density, mean_noise_span_length):
    from tf_mlm.t5_collator import compute_input_and_target_lengths as lengths

    return lengths(inputs_length, noise_density, mean_noise_span_length)


@flax.struct.dataclass
class FlaxDataCollatorForT5MLM:
    tokenizer: PreTrainedTokenizerBase
FIELDS
    def __call__(self, examples: List[Dict[str, np.ndarray]]):
        from tf_mlm.t5_collator import DataCollatorForT5MLM

        fields = {k: getattr(self, k) for k in self.__dataclass_fields__}
        batch = DataCollatorForT5MLM(**fields)(examples)
        assert isinstance(batch, BatchEncoding)
        batch["decoder_input_ids"] = shift_tokens_right(batch["labels"], 0, 0)
        return batch
"""


def test_benchmark_on_a_tiny_batch(tmp_path):
    transformers_or_skip()
    from benchmarks import bench_t5_collator

    path = tmp_path / "run_t5_mlm_flax.py"
    fields = "".join(f"    {name}: float\n" for name in EXAMPLE_FIELDS[1:])
    path.write_text(STAND_IN_EXAMPLE.replace("FIELDS\n", fields))
    out = bench_t5_collator.run(str(path), repeats=1, ref={"rows": 4, "input_length": 64})
    assert set(out["ms"]) == {"tf_mlm", "example"} and out["ratio"]["example"] > 0
    assert (out["tokens_length"], out["targets_length"]) == compute_input_and_target_lengths(
        64, 0.15, 3.0
    )
    path.write_text("def compute_input_and_target_lengths(): pass\n")
    with pytest.raises(ValueError, match="does not define"):
        bench_t5_collator.load_example(str(path))


def test_benchmark_without_the_example_says_how_to_get_it(monkeypatch, capsys):
    transformers_or_skip()
    from benchmarks import bench_t5_collator

    monkeypatch.delenv(bench_t5_collator.ENV, raising=False)
    with pytest.raises(SystemExit):
        bench_t5_collator.main([])
    assert "--flax-example PATH" in capsys.readouterr().err
    assert "git clone" in bench_t5_collator.__doc__
