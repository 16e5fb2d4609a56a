"""``span_corruption`` with ``merge_examples_to_reduce_padding``, batched
from the documents to the records.

t5 chains ``select_random_chunk``, ``reduce_concat_tokens``,
``split_tokens`` and ``denoise``: maps, a filter and batches over single
examples. Here tf.data runs one function per batch of documents, none per
document:

1. documents are batched by ``sparse_batch``, which keeps every
   length (empty documents included) without a function per element;
2. a ``scan`` over the batches carries the concatenation t5's
   ``reduce_concat_tokens`` builds from 128 non-empty documents, which may
   span batches, and numbers the documents and the pieces as t5's seeded
   maps see them (one seed per non-empty document, one per piece);
3. a parallel map corrupts a batch of pieces in one kernel call, each
   piece's seed read from seqio's stream at the piece's number
   (``RandomDatasetElements``: the stream at any position, in one op);
4. the records are unbatched; one slice per record gives t5's element spec.

Documents longer than ``select_random_chunk``'s 65,536 tokens are cut to one
chunk, with the seed of their number, as t5 cuts them.
"""

from __future__ import annotations

import tensorflow as tf

from tf_mlm._tf import t5 as _kernels
from tf_mlm.t5 import _seqio
from tf_mlm.t5 import datasets as _datasets

AUTOTUNE = tf.data.AUTOTUNE
DOCUMENTS_PER_BATCH = 256  # documents per scan step (any size gives the same records)
_ROW_SHAPE = [2**62]  # sparse_batch's row bound: no document is longer


def _document_batches(docs: tf.data.Dataset) -> tf.data.Dataset:
    """``(tokens [batch, (n)], end)``: the ``targets`` of ``docs`` in batches,
    and one empty batch with ``end`` set after them."""
    spec = docs.element_spec["targets"]
    if set(docs.element_spec) != {"targets"}:
        docs = docs.map(lambda x: {"targets": x["targets"]}, num_parallel_calls=AUTOTUNE)
    # {"targets": t} and t are the same tensors to tf.data: the one-component
    # dataset sparse_batch takes, without a map
    tokens = tf.data.experimental.from_variant(tf.data.experimental.to_variant(docs), spec)
    sparse = tokens.sparse_batch(DOCUMENTS_PER_BATCH, _ROW_SHAPE)

    def ragged(batch, end):
        rows = tf.RaggedTensor.from_value_rowids(
            batch.values, batch.indices[:, 0], nrows=batch.dense_shape[0], validate=False
        )
        return rows, end

    last = tf.sparse.SparseTensor(
        tf.zeros([0, 2], tf.int64), tf.zeros([0], spec.dtype), [0, _ROW_SHAPE[0]]
    )
    batches = sparse.map(lambda b: (b, False))
    batches = batches.concatenate(tf.data.Dataset.from_tensors((last, True)))
    return batches.map(ragged)


def _stream_seeds(key_pair, ranks) -> tf.Tensor:
    """``[n, 2]``: the seeds seqio hands the examples numbered ``ranks``."""
    return tf.stack([_kernels.random_dataset_elements(k, ranks) for k in key_pair], axis=1)


def _chunked(docs: tf.RaggedTensor, ranks, chunk_keys) -> tf.RaggedTensor:
    """``select_random_chunk(max_length=65536)`` of each (non-empty) row."""
    max_length = _datasets.CHUNK_LENGTH
    lengths = tf.cast(docs.row_lengths(), tf.int32)

    def cut():
        seeds = _stream_seeds(chunk_keys, ranks)
        starts = tf.map_fn(
            lambda a: _datasets.chunk_start(a[0], max_length, a[1]),
            (lengths, seeds),
            fn_output_signature=tf.int32,
        )
        ends = tf.minimum(starts + max_length, lengths)
        offsets = tf.cast(docs.row_starts(), tf.int32)
        positions = tf.ragged.range(starts + offsets, ends + offsets, row_splits_dtype=tf.int64)
        return positions.with_values(tf.gather(docs.values, positions.flat_values))

    return tf.cond(tf.reduce_any(lengths > max_length), cut, lambda: docs)


def _piece_lengths(group_lengths, tokens_length) -> tf.Tensor:
    """The pieces ``split_tokens`` cuts each group into, in order: pieces of
    ``tokens_length``, the last shorter, counted in float32 as t5 counts."""
    counts = tf.cast(
        tf.math.ceil(tf.cast(group_lengths, tf.float32) / float(tokens_length)), tf.int64
    )
    covered = tf.debugging.assert_greater_equal(
        counts * tokens_length,
        group_lengths,
        message="split_tokens: the pieces of this example, counted in float32 as t5 "
        "counts them, do not cover its tokens (an example of more than 2**24 tokens)",
    )
    with tf.control_dependencies([covered]):
        index = tf.ragged.range(counts).flat_values  # k: the piece's place in its group
    length = tf.repeat(group_lengths, counts)
    return tf.minimum((index + 1) * tokens_length, length) - tf.minimum(
        index * tokens_length, length
    )


def _pieces_scan(tokens_length, chunk_keys, dtype):
    """The scan over ``_document_batches``: state ``(carry, carry_docs,
    doc_rank, piece_rank)``, output ``(values, piece_lengths, first_rank)``
    of the pieces of every group completed in the step."""
    group_size = _datasets.CONCAT_BATCH

    def step(state, batch):
        carry, carry_docs, doc_rank, piece_rank = state
        docs, end = batch
        lengths = docs.row_lengths()  # select_random_chunk's filter: empty rows have no values
        docs = tf.RaggedTensor.from_row_lengths(docs.values, lengths[lengths > 0], validate=False)
        n = docs.nrows()
        rows = _chunked(docs, doc_rank + tf.range(n), chunk_keys)
        nonzero = tf.not_equal(rows.values, 0)  # reduce_concat_tokens drops zeros
        tokens = tf.concat([carry, rows.values[nonzero]], 0)
        # each document's nonzero tokens, then each group's (group 0 holds the carry)
        counts = tf.concat([[0], tf.cumsum(tf.cast(nonzero, tf.int64))], 0)
        ends = tf.gather(counts, rows.row_splits)
        doc_tokens = ends[1:] - ends[:-1]
        docs_in_groups = carry_docs + n
        complete = docs_in_groups // group_size
        complete += tf.cast(end & (docs_in_groups % group_size > 0), tf.int64)
        group = (carry_docs + tf.range(n)) // group_size
        group_lengths = tf.math.unsorted_segment_sum(doc_tokens, group, complete + 1)
        group_lengths = tf.tensor_scatter_nd_add(group_lengths, [[0]], [tf.size(carry, tf.int64)])
        group_lengths = group_lengths[:complete]
        done = tf.reduce_sum(group_lengths)
        lengths = _piece_lengths(group_lengths, tokens_length)
        state = (
            tokens[done:],
            tf.where(end, tf.constant(0, tf.int64), docs_in_groups - complete * group_size),
            doc_rank + n,
            piece_rank + tf.size(lengths, tf.int64),
        )
        return state, (tokens[:done], lengths, piece_rank)

    zero = tf.constant(0, tf.int64)
    return (tf.zeros([0], dtype), zero, zero, zero), step


def merged_records(docs, tokens_length, first_sentinel, noise_density, mean, input_key):
    """The records of ``span_corruption`` with merging: ``{input_key,
    "targets"}``, one per piece, each corrupted with the seed seqio hands
    its position. Takes seqio's seeds as t5's three seeded maps would
    (``select_random_chunk``, ``split_tokens``, ``denoise``)."""
    dtype = docs.element_spec["targets"].dtype
    chunk_keys = _seqio.seed_keys()
    _seqio.skip_seeded_map()  # split_tokens' (unused with a fixed length)
    denoise_keys = _seqio.seed_keys()
    initial, step = _pieces_scan(tokens_length, chunk_keys, dtype)
    pieces = _document_batches(docs).scan(initial, step)

    def corrupt(values, lengths, first_rank):
        tokens = tf.RaggedTensor.from_row_lengths(values, lengths, validate=False)
        ranks = first_rank + tf.range(tokens.nrows())
        seeds = _kernels.denoise_mask_seeds(_stream_seeds(denoise_keys, ranks))
        out = _kernels.corrupt(
            values, tokens.row_splits, seeds, noise_density, mean, False, first_sentinel
        )
        inputs = tf.RaggedTensor.from_row_splits(out.inputs, out.inputs_row_splits, False)
        targets = tf.RaggedTensor.from_row_splits(out.targets, out.targets_row_splits, False)
        return {
            "inputs": inputs.to_tensor(),
            "inputs_length": inputs.row_lengths(),
            "targets": targets.to_tensor(),
            "targets_length": targets.row_lengths(),
        }

    records = pieces.map(corrupt, num_parallel_calls=AUTOTUNE).unbatch()
    return records.map(
        lambda r: {
            input_key: r["inputs"][: r["inputs_length"]],
            "targets": r["targets"][: r["targets_length"]],
        },
        num_parallel_calls=AUTOTUNE,
    )
