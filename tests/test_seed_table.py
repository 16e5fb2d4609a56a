"""docs/semantics.md's table of what a `seed` means in each front end, row
by row: the same stateless key gives the same masks everywhere it is
accepted, and the kinds a front end does not take are rejected."""

import numpy as np
import pytest
import tensorflow as tf

import tf_mlm
from tf_mlm import numpy as tfnp
from tf_mlm.collator import MLMCollator
from tf_mlm.layers import MaskedLMMaskGenerator

IDS = [[101, *range(1000, 1030), 102], [101, *range(2000, 2012), 102]]
OPTIONS = dict(vocab_size=30522, mask_token=103, selection_rate=0.3, unselectable_ids=[101, 102])


def tf_masked(seed):
    selector = tf_mlm.RandomItemSelector(100, 0.3, unselectable_ids=[101, 102])
    chooser = tf_mlm.MaskValuesChooser(30522, 103)
    out = tf_mlm.mask_language_model(tf.ragged.constant(IDS), selector, chooser, seed=seed)
    return out[0].flat_values.numpy().tolist()


def numpy_masked(seed):
    values = np.concatenate([np.array(r) for r in IDS])
    splits = np.cumsum([0] + [len(r) for r in IDS])
    return tfnp.mask_ragged(values, splits, seed=seed, **OPTIONS).masked_values.tolist()


def layer_masked(seed):
    layer = MaskedLMMaskGenerator(30522, 0.3, 103, unselectable_token_ids=[101, 102], seed=seed)
    return layer(tf.ragged.constant(IDS))["token_ids"].flat_values.numpy().tolist()


def test_a_pair_is_the_same_key_in_tensorflow_numpy_and_the_layer():
    assert tf_masked([5, 6]) == numpy_masked((5, 6)) == layer_masked((5, 6))


def test_an_int_is_a_stateless_key_but_in_mask_language_model():
    assert numpy_masked(7) == numpy_masked((7, 0)) == layer_masked(7) == tf_masked([7, 0])
    # mask_language_model: an op seed (stateful): set_seed repeats the run.
    tf.random.set_seed(1)
    a = tf_masked(7)
    tf.random.set_seed(1)
    assert tf_masked(7) == a


def test_none_draws_fresh_keys():
    # Two draws of 9 of 30 tokens (C(30, 9) > 10**7 ways) and their values.
    assert numpy_masked(None) != numpy_masked(None)
    assert tf_masked(None) != tf_masked(None)


def test_a_numpy_generator_is_drawn_from_by_numpy_and_the_collator():
    assert numpy_masked(np.random.default_rng(3)) == numpy_masked(np.random.default_rng(3))
    collate = MLMCollator(**OPTIONS, seed=np.random.default_rng(3))
    again = MLMCollator(**OPTIONS, seed=3)
    assert collate(IDS)["input_ids"].tolist() == again(IDS)["input_ids"].tolist()


def test_kinds_a_front_end_does_not_take_are_rejected():
    with pytest.raises(TypeError):
        MLMCollator(**OPTIONS, seed=(1, 2))
    with pytest.raises(TypeError):
        layer_masked(np.random.default_rng(0))
    with pytest.raises((TypeError, ValueError)):
        tf_masked(np.random.default_rng(0))
