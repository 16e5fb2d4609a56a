"""Mask values: what each selected token is replaced with."""

from __future__ import annotations

from tf_mlm._shared import seeds as _seed
from tf_mlm._tf import fused as _fused
from tf_mlm._tf import library as _library
from tf_mlm._tf import ragged as _ragged
from tf_mlm.options import MASK_TOKEN_RATE, RANDOM_TOKEN_RATE


class MaskValuesChooser:
    """Chooses, for each selected token independently, ``mask_token`` with
    probability ``mask_token_rate``, a uniform random id in
    ``[0, vocab_size)`` with probability ``random_token_rate``, and the
    original id otherwise (BERT's 80/10/10 by default).

    Subclasses customise the values by overriding
    [get_mask_values][tf_mlm.MaskValuesChooser.get_mask_values].

    >>> chooser = tf_mlm.MaskValuesChooser(vocab_size=100, mask_token=3, mask_token_rate=1.0,
    ...                                    random_token_rate=0.0)
    >>> chooser.get_mask_values(tf.ragged.constant([[11, 12], [13]]))
    <tf.RaggedTensor [[3, 3], [3]]>
    """

    def __init__(
        self,
        vocab_size,
        mask_token,
        mask_token_rate=MASK_TOKEN_RATE,
        random_token_rate=RANDOM_TOKEN_RATE,
        *,
        excluded_ids=None,
        replacement_frequencies=None,
    ):
        """Args:
        vocab_size: random replacements are drawn from ``[0, vocab_size)``.
        mask_token: id of the mask token, in ``[0, vocab_size)``.
        mask_token_rate: probability of replacing with ``mask_token``.
        random_token_rate: probability of replacing with a random id.
          ``mask_token_rate + random_token_rate`` must be <= 1 (checked
          when the op runs, an ``InvalidArgumentError``).
        excluded_ids: (tf_mlm extension) ids never drawn as random
          replacements, e.g. special tokens; a list or 1-D Tensor.
        replacement_frequencies: (tf_mlm extension) ``vocab_size``
          non-negative weights: random replacements are drawn with
          probability proportional to them (fairseq's
          ``freq_weighted_replacement``), through alias tables built once
          here, O(1) per draw.
        """
        if mask_token_rate is None:
            raise ValueError("`mask_token_rate` cannot be None")
        if random_token_rate is None:
            raise ValueError("`random_token_rate` cannot be None")
        self._vocab_size = vocab_size
        self._mask_token = mask_token
        self._mask_token_rate = mask_token_rate
        self._random_token_rate = random_token_rate
        self._excluded_ids = excluded_ids
        self._replacement_frequencies = replacement_frequencies
        # The replacement law's tables, built now (which also validates the
        # options), eagerly when possible.
        _fused.replacement_inputs(self)

    @property
    def mask_token(self):
        return self._mask_token

    @property
    def mask_token_rate(self):
        return self._mask_token_rate

    @property
    def random_token_rate(self):
        return self._random_token_rate

    @property
    def vocab_size(self):
        return self._vocab_size

    @property
    def excluded_ids(self):
        return self._excluded_ids

    @property
    def replacement_frequencies(self):
        return self._replacement_frequencies

    def get_mask_values(self, masked_lm_ids):
        """New values for the selected ids.

        Args:
          masked_lm_ids: a RaggedTensor (or dense Tensor) of int32/int64 ids,
            one row per batch row.
        Returns:
          tf.RaggedTensor | tf.Tensor: the new ids, in the shape, dtype and
          kind (ragged or dense) of ``masked_lm_ids``, each id replaced or
          kept.
        """
        rt, restore = _ragged.to_ragged(masked_lm_ids, name="masked_lm_ids")
        splits = _ragged.item_row_splits(rt, rt.ragged_rank)
        scalars, replacement = _fused.value_inputs(self)
        values = _library.ops().tfmlm_choose_mask_values(
            rt.flat_values, splits, *scalars, _seed.tf_seed(None), **replacement
        )
        return restore(rt.with_flat_values(values))
