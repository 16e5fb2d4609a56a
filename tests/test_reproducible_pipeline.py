"""Reproducible masking pipelines: per-element stateless seeds.

Recipe (README.md, "Reproducible pipelines"): give every element its own ``[2]`` seed that is a
function of the pipeline's base seed and the element's place in the stream,
and pass it to ``tf_mlm.mask_language_model(..., seed=seed)``. Then a parallel
``map`` (``num_parallel_calls=AUTOTUNE``, ``deterministic=True``) gives the
same masks on every run, and an iterator restored from a checkpoint goes on
with exactly the masks the uninterrupted run would have produced. Two ways
to make the seeds, both tested:

* ``random``: zip in ``tf.data.Dataset.random(seed=base).batch(2)``;
* ``fold_in``: ``enumerate()`` and
  ``tf.random.experimental.stateless_fold_in(base_seed, index)``.
"""

import pytest
import tensorflow as tf

import tf_mlm

NUM_ELEMENTS = 96
BATCH = 8
BASE_SEED = 1234


def _ids(index):
    """[CLS] body [SEP], 5..20 body ids, a pure function of the index."""
    length = 5 + (index * 7) % 16
    body = 1000 + (index * 131 + tf.range(length, dtype=tf.int64) * 17) % 20000
    return tf.concat([[101], body, [102]], axis=0)


def masked_pipeline(seed_source, base_seed=BASE_SEED):
    selector = tf_mlm.RandomItemSelector(
        max_selections_per_batch=20, selection_rate=0.15, unselectable_ids=[0, 101, 102]
    )
    chooser = tf_mlm.MaskValuesChooser(vocab_size=30522, mask_token=103)
    batches = tf.data.Dataset.range(NUM_ELEMENTS).map(_ids).ragged_batch(BATCH)
    if seed_source == "random":
        # One [2] int64 seed per batch, the same sequence on every run.
        seeds = tf.data.Dataset.random(seed=base_seed).batch(2, drop_remainder=True)
        ds = tf.data.Dataset.zip(batches, seeds)
    else:
        ds = batches.enumerate().map(
            lambda i, b: (
                b,
                tf.random.experimental.stateless_fold_in(tf.constant([base_seed, 0], tf.int64), i),
            )
        )

    def mask(ids, seed):
        masked, positions, labels = tf_mlm.mask_language_model(ids, selector, chooser, seed=seed)
        return {"masked": masked, "positions": positions, "labels": labels}

    return ds.map(mask, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)


def _as_lists(element):
    return {k: v.to_list() for k, v in element.items()}


def _take(iterator, n):
    return [_as_lists(next(iterator)) for _ in range(n)]


SOURCES = ["random", "fold_in"]


@pytest.mark.parametrize("seed_source", SOURCES)
def test_same_masks_on_every_run(seed_source):
    first = [_as_lists(e) for e in masked_pipeline(seed_source)]
    second = [_as_lists(e) for e in masked_pipeline(seed_source)]
    assert len(first) == NUM_ELEMENTS // BATCH
    assert first == second
    # The seeds really differ per element (and masks actually happen).
    assert len({str(e["positions"]) for e in first}) == len(first)
    assert any(103 in row for e in first for row in e["masked"])


@pytest.mark.parametrize("seed_source", SOURCES)
def test_another_base_seed_gives_other_masks(seed_source):
    a = [_as_lists(e)["positions"] for e in masked_pipeline(seed_source, base_seed=1)]
    b = [_as_lists(e)["positions"] for e in masked_pipeline(seed_source, base_seed=2)]
    assert a != b


@pytest.mark.parametrize("seed_source", SOURCES)
def test_checkpointed_iterator_resumes_with_the_same_masks(seed_source, tmp_path):
    total = NUM_ELEMENTS // BATCH
    uninterrupted = [_as_lists(e) for e in masked_pipeline(seed_source)]

    it = iter(masked_pipeline(seed_source))
    head = _take(it, 5)
    path = tf.train.Checkpoint(iterator=it).write(str(tmp_path / "ckpt"))
    _take(it, 3)  # the run goes on past the checkpoint, then "crashes"

    resumed = iter(masked_pipeline(seed_source))  # a new pipeline, as after a restart
    tf.train.Checkpoint(iterator=resumed).read(path).assert_consumed()
    tail = _take(resumed, total - 5)
    with pytest.raises(StopIteration):
        next(resumed)
    assert head + tail == uninterrupted
