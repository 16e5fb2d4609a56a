"""``tf_mlm.t5.prefix_lm`` (against t5 0.9.4, record for record) and
``tf_mlm.t5.ul2_objective``, UL2's mixture of denoisers, whose law is
checked without t5: the share of examples per denoiser, each span
denoiser's noise and span counts, the prefix LM's uniform split point, the
task prefixes, and the original tokens rebuilt from inputs and targets.

tf_mlm.t5 needs seqio, so this module runs where tests/test_t5.py does
(tests/t5_job.sh; ``TF_MLM_T5_TESTS=required`` makes a missing seqio or t5
an error there).
"""

import collections
import functools

import numpy as np
import pytest
import tensorflow as tf

from tests._stats import P_FLOOR, law_p, uniform_p
from tests._t5_deps import t5_dependency as _import
from tests._t5_oracle import span_counts

seqio = _import("seqio")

from tests.test_t5 import (  # noqa: E402
    FEATURES,
    VOCAB,
    assert_same_datasets,
    build,
    dataset,
    documents,
    records,
)
from tf_mlm import t5 as ours  # noqa: E402
from tf_mlm.t5 import prefix  # noqa: E402

FIRST_SENTINEL = VOCAB.vocab_size - 1
TASK_IDS = [[500], [501], [502], [503]]  # above the documents' ids, below the sentinels
R, X = (3.0, 0.15), (32.0, 0.5)  # (mean noise span length, noise density)


@pytest.fixture(scope="module")
def t5p():
    return _import("t5.data.preprocessors")


# --- prefix_lm against t5 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(noise_density=0.25),
        dict(noise_density=0.0),
        dict(dtype=np.int64, long_docs=1),
        dict(add_eos=False, lengths={"inputs": 20, "targets": 20}),
    ],
)
def test_prefix_lm_vs_t5(t5p, kwargs):
    kwargs = dict(kwargs)
    docs = documents(
        200, seed=21, dtype=kwargs.pop("dtype", np.int32), long_docs=kwargs.pop("long_docs", 0)
    )
    features = {
        k: seqio.Feature(VOCAB, add_eos=kwargs.pop("add_eos", True)) for k in ("inputs", "targets")
    }
    lengths = kwargs.pop("lengths", {"inputs": 64, "targets": 64})
    a, na = build(t5p.prefix_lm, 30, dataset(docs), lengths, features, **kwargs)
    b, nb = build(ours.prefix_lm, 30, dataset(docs), lengths, features, **kwargs)
    assert na == nb
    assert_same_datasets(b, a)
    assert len(records(a)) > 100


def test_prefix_lm_above_half_is_not_implemented(t5p):
    # t5's message, in t5 wrapped by autograph (its denoise is a gin configurable)
    message = "noise density must not exceed 0.5 for random_prefix_noise_mask"
    args = (dataset(documents(5)), {"inputs": 16}, FEATURES)
    with pytest.raises(Exception, match=message):
        build(t5p.prefix_lm, 1, *args, noise_density=0.6)
    with pytest.raises(NotImplementedError, match=message):
        build(ours.prefix_lm, 1, *args, noise_density=0.6)


def test_drop_tokens_vs_t5(t5p):
    rng = np.random.default_rng(22)
    for length in range(0, 30):
        tokens = tf.constant(rng.integers(2, 1000, size=length), tf.int64)
        mask = tf.constant(rng.random(length) < 0.4)
        for name in ("drop_noise_tokens", "drop_nonnoise_tokens"):
            expected = getattr(t5p, name)(tokens, mask, VOCAB, seeds=None).numpy()
            got = getattr(ours, name)(tokens, mask, VOCAB, seeds=None).numpy()
            np.testing.assert_array_equal(got, expected)
            assert got.dtype == np.int64


# --- ul2_objective: its law ---------------------------------------------------------------------


def ul2(docs, map_seed=10, lengths=None, **kwargs):
    """``ul2_objective`` built under ``map_seed_manager(map_seed)``."""
    lengths = lengths or {"inputs": 64, "targets": 64}
    with seqio.utils.map_seed_manager(map_seed):
        return ours.ul2_objective(docs, lengths, FEATURES, **kwargs)


def by_task(rows, key="inputs"):
    """Records grouped by their one-token task prefix, the prefix removed."""
    groups = collections.defaultdict(list)
    for r in rows:
        task = int(r[key][0]) - TASK_IDS[0][0]
        groups[task].append({**r, key: r[key][1:]})
    return groups


def split_at_sentinels(tokens):
    """The runs of tokens between sentinels, and the sentinels in order."""
    runs, sentinels, run = [], [], []
    for t in tokens.tolist():
        if t > FIRST_SENTINEL - 1000:
            runs.append(run)
            sentinels.append(t)
            run = []
        else:
            run.append(t)
    return runs + [run], sentinels


def rebuild(inputs, targets):
    """The piece a span-corrupted pair came from, and its (noise tokens,
    noise spans); the sentinels checked to be the k-th ``first - k``."""
    kept, input_sentinels = split_at_sentinels(inputs)
    noise, target_sentinels = split_at_sentinels(targets)
    spans = len(input_sentinels)
    assert input_sentinels == [FIRST_SENTINEL - k for k in range(spans)]
    assert target_sentinels == [FIRST_SENTINEL - k for k in range(len(target_sentinels))]
    assert noise[0] == []  # targets start with a sentinel (the first kept span's)
    noise_spans = noise[1 : spans + 1]
    assert all(noise_spans) and not any(noise[spans + 1 :])
    piece = []
    for k, run in enumerate(kept):
        piece += run + (noise_spans[k] if k < spans else [])
    return piece, (sum(map(len, noise_spans)), spans)


def piece_of(record, task, denoisers):
    """The piece a record came from, its law checked: a span denoiser's
    noise and span counts as t5 counts them, prefix LM's split inside."""
    if denoisers[task] is None:  # prefix LM
        n = len(record["inputs"]) + len(record["targets"])
        assert 1 <= len(record["inputs"]) <= n - 1 or n == 1
        return record["inputs"].tolist() + record["targets"].tolist()
    mean, density = denoisers[task]
    piece, counts = rebuild(record["inputs"], record["targets"])
    # t5's counts; a 1-token piece's mask is cut from one of 2 (its noise token dropped)
    assert counts == (span_counts(len(piece), density, mean)[1:] if len(piece) > 1 else (0, 0))
    return piece


def pieces_with_tasks(rows):
    """``(piece, denoiser)`` of each record, read from its task prefix."""
    tasks = [int(r["inputs"][0]) - TASK_IDS[0][0] for r in rows]
    unprefixed = [{**r, "inputs": r["inputs"][1:]} for r in rows]
    return [(piece_of(r, t, DENOISERS), t) for r, t in zip(unprefixed, tasks)]


def assert_pieces_tile_the_blocks(pieces, blocks, lengths):
    """``pieces`` (tokens, denoiser) in order cut ``blocks`` one after the
    other, each piece its denoiser's length but a block's last, shorter."""
    pieces = iter(pieces)
    for block in blocks:
        at = 0
        while at < len(block):
            tokens, task = next(pieces)
            assert tokens == block[at : at + len(tokens)].tolist()
            at += len(tokens)
            last = at == len(block)
            assert len(tokens) == lengths[task] or (last and len(tokens) < lengths[task])
    assert next(pieces, None) is None


def merged_blocks(docs):
    """The documents merged 128 at a time, zeros dropped."""
    blocks = [np.concatenate(docs[b : b + 128]) for b in range(0, len(docs), 128)]
    return [b[b != 0] for b in blocks if np.any(b != 0)]


def tokens_length(density, mean, inputs_length=64):
    return ours.random_spans_helper(inputs_length, density, mean, 1, 1)[0]


MIXTURE = dict(
    use_prefix_lm_task=True, mean_noise_span_lengths=(R[0], X[0]), noise_densities=(R[1], X[1]),
    optional_task_prefixes=TASK_IDS[:3],
)  # fmt: skip
DENOISERS = [R, X, None]  # (mean, density) of each, prefix LM's None
LENGTHS = [tokens_length(R[1], R[0]), tokens_length(X[1], X[0]), 63]  # 64, less EOS for S


@pytest.mark.parametrize("merge", [True, False])
def test_the_pieces_rebuild_the_documents(merge):
    docs = documents(400, seed=23)
    rows = records(ul2(dataset(docs), merge_examples_to_reduce_padding=merge, **MIXTURE))
    pieces = pieces_with_tasks(rows)
    assert {task for _, task in pieces} == {0, 1, 2}
    blocks = merged_blocks(docs) if merge else [d for d in docs if len(d)]
    assert_pieces_tile_the_blocks(pieces, blocks, LENGTHS)


def test_without_sharding_every_denoiser_reads_every_document():
    docs = documents(200, seed=24)
    rows = records(ul2(dataset(docs), shard_ds=False, **MIXTURE))
    groups = by_task(rows)
    for task in range(3):
        pieces = [(piece_of(r, task, DENOISERS), task) for r in groups[task]]
        assert_pieces_tile_the_blocks(pieces, merged_blocks(docs), LENGTHS)


def test_the_share_of_each_denoiser_is_its_rate():
    rates = [0.5, 0.3, 0.15, 0.05]
    ds = ul2(
        dataset(documents(300, seed=25)).repeat(), use_prefix_lm_task=True, rates=rates,
        mean_noise_span_lengths=(3.0, 8.0, 64.0), noise_densities=(0.15, 0.5, 0.5),
        optional_task_prefixes=TASK_IDS, seed=3,
    )  # fmt: skip
    first = [int(r["inputs"][0]) for r in ds.take(4000).as_numpy_iterator()]
    counts = np.bincount(np.array(first) - TASK_IDS[0][0], minlength=4)
    assert law_p(counts, rates) > P_FLOOR
    assert law_p(counts, [0.25] * 4) < P_FLOOR  # the test can tell a wrong law
    assert law_p(counts, [0.45, 0.35, 0.15, 0.05]) < P_FLOOR
    # each record's denoiser independent of the one before (no runs of one denoiser)
    tasks = np.array(first) - TASK_IDS[0][0]
    pairs = np.bincount(tasks[:-1] * 4 + tasks[1:], minlength=16)
    assert law_p(pairs, np.outer(rates, rates).ravel()) > P_FLOOR
    in_runs = np.repeat(tasks[::50], 50)
    runs = np.bincount(in_runs[:-1] * 4 + in_runs[1:], minlength=16)
    assert law_p(runs, np.outer(rates, rates).ravel()) < P_FLOOR  # runs of 50 would fail


def test_without_rates_the_denoisers_are_drawn_uniformly():
    ds = ul2(
        dataset(documents(300, seed=26)).repeat(), mean_noise_span_lengths=(3.0, 32.0),
        noise_densities=(0.15, 0.5), optional_task_prefixes=TASK_IDS[:2],
    )  # fmt: skip
    first = [int(r["inputs"][0]) for r in ds.take(2000).as_numpy_iterator()]
    counts = np.bincount(np.array(first) - TASK_IDS[0][0], minlength=2)
    assert uniform_p(counts) > P_FLOOR
    assert law_p(counts, [0.6, 0.4]) < P_FLOOR


def test_the_prefix_lm_split_point_is_uniform():
    # S-denoiser only: pieces of 15 tokens (16 less EOS), split after 1 .. 14
    ds = ul2(
        dataset(documents(400, seed=27)), lengths={"inputs": 16, "targets": 16},
        use_prefix_lm_task=True, mean_noise_span_lengths=(), noise_densities=(),
    )  # fmt: skip
    rows = [r for r in records(ds) if len(r["inputs"]) + len(r["targets"]) == 15]
    assert len(rows) > 1500
    counts = np.bincount([len(r["inputs"]) for r in rows], minlength=15)
    assert counts[0] == 0 and counts[1:].min() > 0
    assert uniform_p(counts[1:]) > P_FLOOR
    assert law_p(counts[1:], np.arange(1, 15)) < P_FLOOR  # the test can tell a wrong law


def test_string_prefixes_are_encoded_with_the_inputs_vocabulary():
    vocab = seqio.ByteVocabulary(extra_ids=100)
    features = {k: seqio.Feature(vocab) for k in ("inputs", "targets")}
    docs = dataset([np.arange(3, 200, dtype=np.int32)] * 20)
    kwargs = dict(use_prefix_lm_task=True, mean_noise_span_lengths=(3.0,), noise_densities=(0.15,))
    lengths = {"inputs": 32, "targets": 32}
    with_strings, _ = build(ours.ul2_objective, 4, docs, lengths, features,
                            optional_task_prefixes=["[NLU]", "[S2S]"], **kwargs)  # fmt: skip
    with_ids, _ = build(ours.ul2_objective, 4, docs, lengths, features,
                        optional_task_prefixes=[vocab.encode("[NLU]"), vocab.encode("[S2S]")],
                        **kwargs)  # fmt: skip
    without, _ = build(ours.ul2_objective, 4, docs, lengths, features, **kwargs)
    assert_same_datasets(with_strings, with_ids)
    nlu, s2s = vocab.encode("[NLU]"), vocab.encode("[S2S]")
    for a, b in zip(records(with_strings), records(without)):
        prefix = nlu if a["inputs"][: len(nlu)].tolist() == nlu else s2s
        assert a["inputs"].tolist() == prefix + b["inputs"].tolist()
        np.testing.assert_array_equal(a["targets"], b["targets"])


def test_an_empty_prefix_adds_nothing():
    docs = documents(100, seed=28)
    kwargs = dict(mean_noise_span_lengths=(3.0, 8.0), noise_densities=(0.15, 0.15))
    a = records(ul2(dataset(docs), optional_task_prefixes=["", [501]], **kwargs))
    b = records(ul2(dataset(docs), optional_task_prefixes=[None, [501]], **kwargs))
    c = records(ul2(dataset(docs), **kwargs))
    assert_same_records_by_position(a, b)
    assert sum(int(r["inputs"][0]) == 501 for r in a) > 10
    assert [r["targets"].tolist() for r in a] == [r["targets"].tolist() for r in c]


def assert_same_records_by_position(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_element_spec_keys_and_lengths(dtype):
    docs = documents(300, seed=29, dtype=dtype)
    lengths = {"text": 64, "targets": 64}
    features = {"text": FEATURES["inputs"], "targets": FEATURES["targets"]}
    ds, _ = build(
        ours.ul2_objective, 2, dataset(docs), lengths, features, use_prefix_lm_task=True,
        mean_noise_span_lengths=(3.0, 32.0), noise_densities=(0.15, 0.5),
        optional_task_prefixes=TASK_IDS[:3], input_feature_key="text", reserved_for_packing=4,
    )  # fmt: skip
    spec = tf.TensorSpec([None], tf.as_dtype(dtype))
    assert ds.element_spec == {"text": spec, "targets": spec}
    groups = by_task(records(ds), key="text")
    assert sorted(groups) == [0, 1, 2]
    # 64 - 4 reserved: corrupted inputs fill 60 with the EOS, as do the prefix LM pieces
    for task in (0, 1):
        assert max(len(r["text"]) for r in groups[task]) == 59
    assert max(len(r["text"]) + len(r["targets"]) for r in groups[2]) == 59
    assert all(r["text"].dtype == dtype for rows in groups.values() for r in rows)


def test_seeds():
    # seqio's map seed and `seed` draw the denoisers; seqio's the corruption
    docs = documents(150, seed=30)
    a, b = (records(ul2(dataset(docs), **MIXTURE)) for _ in range(2))
    assert_same_records_by_position(a, b)

    def text(rows):  # the documents' tokens, as the records cut them
        return sum((piece for piece, _ in pieces_with_tasks(rows)), [])

    for other in (records(ul2(dataset(docs), seed=8, **MIXTURE)),
                  records(ul2(dataset(docs), map_seed=11, **MIXTURE))):  # fmt: skip
        assert [int(r["inputs"][0]) for r in other] != [int(r["inputs"][0]) for r in a]
        assert text(other) == text(a)


def test_errors():
    docs = dataset(documents(10))
    lengths = {"inputs": 64, "targets": 64}
    with pytest.raises(ValueError, match="one value per span denoiser"):
        ours.ul2_objective(docs, lengths, FEATURES, mean_noise_span_lengths=(3.0, 8.0))
    with pytest.raises(ValueError, match="Number of task prefixes must match number of tasks"):
        ours.ul2_objective(docs, lengths, FEATURES, use_prefix_lm_task=True,
                           optional_task_prefixes=["[NLU]"])  # fmt: skip
    with pytest.raises(ValueError, match="rates has 1 values for 2 tasks"):
        ours.ul2_objective(docs, lengths, FEATURES, use_prefix_lm_task=True, rates=[1.0])
    with pytest.raises(ValueError, match="non-negative"):
        ours.ul2_objective(docs, lengths, FEATURES, use_prefix_lm_task=True, rates=[1.0, -0.5])
    other = {"inputs": seqio.Feature(seqio.PassThroughVocabulary(size=5)),
             "targets": FEATURES["targets"]}  # fmt: skip
    with pytest.raises(ValueError, match="different vocabularies"):
        ours.ul2_objective(docs, lengths, other)
    with pytest.raises(TypeError, match="int32 or int64 token ids, got uint16"):
        ours.ul2_objective(docs.map(lambda x: {"targets": tf.cast(x["targets"], tf.uint16)}),
                           lengths, FEATURES)  # fmt: skip
    with pytest.raises(ValueError, match="of one dimension"):
        ours.ul2_objective(docs.map(lambda x: {"targets": x["targets"][None]}), lengths, FEATURES)
    with pytest.raises(ValueError, match="an inputs length of 1 leaves no token"):
        ours.ul2_objective(docs, {"inputs": 1, "targets": 5}, FEATURES, use_prefix_lm_task=True,
                           mean_noise_span_lengths=(), noise_densities=())  # fmt: skip
    with pytest.raises(ValueError, match="at least one denoiser"):
        ours.ul2_objective(docs, lengths, FEATURES, mean_noise_span_lengths=(),
                           noise_densities=())  # fmt: skip
    too_short = r"targets length for span corruption \(64\) is greater than .* \(20\)"
    with pytest.raises(ValueError, match=too_short):
        ours.ul2_objective(
            docs,
            {"inputs": 64, "targets": 20},
            FEATURES,
            mean_noise_span_lengths=(3.0, 32.0),
            noise_densities=(0.15, 0.5),
        )


@pytest.mark.parametrize("merge", [True, False])
def test_a_long_document_gives_one_chunk(merge):
    long_doc = documents(0, long_docs=1)[0]  # 70,000 tokens: chunks [0, 65536), [65536, 70000)
    rows = records(ul2(dataset([long_doc]), merge_examples_to_reduce_padding=merge, **MIXTURE))
    text = sum((piece for piece, _ in pieces_with_tasks(rows)), [])
    assert text in (long_doc[:65536].tolist(), long_doc[65536:].tolist())


def test_documents_of_one_static_length_and_other_features():
    docs = np.random.default_rng(31).integers(1, 400, size=(300, 40)).astype(np.int32)
    static = tf.data.Dataset.from_tensor_slices({"targets": docs, "id": np.arange(300)})
    assert static.element_spec["targets"].shape == [40]
    rows = records(ul2(static, **MIXTURE))
    assert set(rows[0]) == {"inputs", "targets"}
    assert_pieces_tile_the_blocks(pieces_with_tasks(rows), merged_blocks(list(docs)), LENGTHS)


def test_in_a_seqio_task():
    docs = documents(200, seed=32)
    name = "tf_mlm_ul2_test"
    seqio.TaskRegistry.remove(name)
    task = seqio.TaskRegistry.add(
        name,
        source=seqio.FunctionDataSource(
            lambda split, shuffle_files, seed=None: dataset(docs), ["train"]
        ),
        preprocessors=[
            functools.partial(ours.ul2_objective, **MIXTURE),
            seqio.preprocessors.append_eos_after_trim,
        ],
        output_features=FEATURES,
        metric_fns=[],
    )
    try:
        lengths = {"inputs": 64, "targets": 64}
        a, b = (
            records(task.get_dataset(lengths, split="train", shuffle=False, seed=3))
            for _ in range(2)
        )
        assert_same_records_by_position(a, b)
        assert len(a) > 100
        assert all(r["inputs"][-1] == 1 and r["targets"][-1] == 1 for r in a)  # EOS
        assert all(len(r["inputs"]) <= 64 for r in a)
    finally:
        seqio.TaskRegistry.remove(name)


def test_batched_prefix_lengths_are_random_prefix_noise_masks():
    # the batched draw against the per-example mask it stands for (t5's)
    rng = np.random.default_rng(33)
    lengths = rng.integers(0, 3000, size=500)
    lengths[:4] = [0, 1, 2, 3]
    seeds = rng.integers(-(2**63), 2**63 - 1, size=(500, 2), dtype=np.int64)
    for density in (0.0, 0.1, 0.25, 0.5):
        got = prefix.prefix_lengths(tf.constant(lengths), tf.constant(seeds), density).numpy()
        masks = [ours.random_prefix_noise_mask(n, density, s[None]) for n, s in zip(lengths, seeds)]
        expected = [int(np.sum(m.numpy())) for m in masks]
        assert np.maximum(got, 0).tolist() == expected
