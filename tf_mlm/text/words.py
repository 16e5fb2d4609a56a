"""Whole words from wordpieces, without building rank-3 inputs by hand.

``group_words`` turns ``[batch, (wordpieces)]`` ids into ``[batch, (words),
(wordpieces)]`` in one kernel, from a per-vocabulary-id table telling which
ids continue the previous word. Masking the result with ``axis=1`` is
whole-word masking (BERT's whole word masking), identical to passing the
equivalent rank-3 input.
"""

from __future__ import annotations

import tensorflow as tf

from tf_mlm._tf import library as _library
from tf_mlm._tf import ragged as _ragged

# The table builders need no TensorFlow; re-exported here (tf_mlm's API).
from tf_mlm.vocab import sentencepiece_continuation_table, wordpiece_continuation_table  # noqa: F401


def group_words(input_ids, continuation_table) -> tf.RaggedTensor:
    """Groups wordpieces into words.

    Args:
      input_ids: ``[batch, (wordpieces)]`` int32/int64 ids (RaggedTensor,
        dense Tensor or lists).
      continuation_table: bool vector over the vocabulary, True for ids that
        continue the previous word (see ``wordpiece_continuation_table``).
        The first piece of a row always starts a word; ids outside the table
        start words.

    Returns:
      ``[batch, (words), (wordpieces)]`` with the same values.

    >>> ids = tf.ragged.constant([[1, 2, 3, 1], [3, 1]])
    >>> group_words(ids, [False, False, True, True])
    <tf.RaggedTensor [[[1, 2, 3], [1]], [[3], [1]]]>
    """
    rt, _ = _ragged.to_ragged(input_ids)
    if rt.ragged_rank != 1:
        raise ValueError(
            "`input_ids` must be [batch, (wordpieces)] (ragged rank 1), got ragged "
            f"rank {rt.ragged_rank}"
        )
    table = tf.convert_to_tensor(continuation_table)
    if table.dtype != tf.bool:
        table = tf.cast(table, tf.bool)
    if table.shape.rank not in (None, 1):
        raise ValueError(f"`continuation_table` must be a 1-D bool vector, got shape {table.shape}")
    row_splits, word_splits = _library.ops().tfmlm_group_words(
        rt.flat_values, rt.row_splits, tf.reshape(table, [-1])
    )
    return tf.RaggedTensor.from_nested_row_splits(
        rt.flat_values, [row_splits, word_splits], validate=False
    )
