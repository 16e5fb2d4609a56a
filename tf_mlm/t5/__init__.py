"""T5 span corruption, a drop-in for ``t5.data.preprocessors``, and UL2's
mixture of denoisers (:func:`ul2_objective`)::

    from tf_mlm import t5 as preprocessors   # instead of: from t5.data import preprocessors

The same signatures, elements, dtypes and shapes as t5 0.9.4's, and for the
same seqio seeds (``seqio.utils.map_seed_manager``, ``Task.get_dataset(seed=...)``)
the same outputs, with the per-example work done by fused C++ kernels over
batches of examples. Needs seqio (``pip install "tf_mlm[t5]"``); t5 itself is
not needed. See docs/t5.md.
"""

from tf_mlm.t5 import _seqio  # noqa: F401  (seqio, or an ImportError naming the extra)
from tf_mlm.t5.corruption import denoise, span_corruption
from tf_mlm.t5.datasets import (
    reduce_concat_tokens,
    select_random_chunk,
    split_tokens,
    split_tokens_to_inputs_length,
    split_tokens_to_targets_length,
)
from tf_mlm.t5.noise import (
    noise_span_to_unique_sentinel,
    nonnoise_span_to_unique_sentinel,
    random_prefix_noise_mask,
    random_spans_helper,
    random_spans_noise_mask,
    sentinel_id,
)
from tf_mlm.t5.prefix import drop_noise_tokens, drop_nonnoise_tokens, prefix_lm
from tf_mlm.t5.ul2 import ul2_objective

__all__ = [
    "denoise",
    "drop_noise_tokens",
    "drop_nonnoise_tokens",
    "noise_span_to_unique_sentinel",
    "nonnoise_span_to_unique_sentinel",
    "prefix_lm",
    "random_prefix_noise_mask",
    "random_spans_helper",
    "random_spans_noise_mask",
    "reduce_concat_tokens",
    "select_random_chunk",
    "sentinel_id",
    "span_corruption",
    "split_tokens",
    "split_tokens_to_inputs_length",
    "split_tokens_to_targets_length",
    "ul2_objective",
]
