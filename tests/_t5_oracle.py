"""An oracle of t5's span corruption written from TensorFlow's stateless
ops (the uniforms, their stable order, the roll offset), without t5: what
tests/test_span_corruption.py and tests/test_t5.py check tf_mlm against."""

import numpy as np
import tensorflow as tf

F32 = np.float32


def span_counts(length, density, mean):
    """(padded length, noise tokens, noise spans) in float32 as t5 counts."""
    padded = max(length, 2)
    noise = int(np.rint(F32(padded) * F32(density)))
    noise = min(max(noise, 1), padded - 1)
    spans = max(int(np.rint(F32(noise) / F32(mean))), 1)
    return padded, noise, spans


def segment_lengths(total, segments, seed):
    """``total`` items cut into ``segments`` runs: cuts after the items whose
    uniform ranks among the first ``segments - 1`` in stable order."""
    uniforms = tf.random.stateless_uniform([total - 1], seed=seed).numpy()
    order = np.argsort(uniforms, kind="stable")
    cut = order < segments - 1
    ids = np.cumsum(np.concatenate([[0], cut.astype(np.int64)]))
    return np.bincount(ids)


def oracle_mask(length, density, seeds, mean=3.0, roll=False):
    if density == 0:
        return np.zeros(length, bool)
    padded, noise, spans = span_counts(length, density, mean)
    noise_runs = segment_lengths(noise, spans, seeds[0])
    plain_runs = segment_lengths(padded - noise, spans, seeds[1])
    if len(noise_runs) != spans or len(plain_runs) != spans:
        return None  # an error
    runs = zip(plain_runs, noise_runs)
    mask = np.concatenate([np.repeat([False, True], [p, q]) for p, q in runs])
    mask = mask[:length]
    if roll:
        s = np.asarray(seeds)
        with np.errstate(over="ignore"):
            roll_seed = np.array([s[0, 0] + s[1, 1], s[0, 1] - s[1, 0]], s.dtype)
        offset = tf.random.stateless_uniform(
            [1], seed=roll_seed, dtype=tf.int32, minval=0, maxval=padded
        )[0]
        mask = np.roll(mask, int(offset)) if length else mask
    return mask


def oracle_sentinels(tokens, mask, first):
    """Each run of masked tokens -> one sentinel, the k-th ``first - k``."""
    out, k, previous = [], 0, False
    for token, masked in zip(tokens, mask):
        if masked and not previous:
            out.append(first - k)
            k += 1
        elif not masked:
            out.append(token)
        previous = masked
    return out
