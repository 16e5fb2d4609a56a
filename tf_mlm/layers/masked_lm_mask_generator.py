"""``MaskedLMMaskGenerator``: keras_hub's masking layer on tf_mlm's kernels.

Two execution paths, one sampling law:

* TensorFlow: inside a ``tf.data`` pipeline or a ``tf.function`` (any Keras
  backend), and for eager calls under the TensorFlow backend. One fused
  kernel call per batch; with ``mask_selection_length`` set, the kernel
  writes the padded ``[batch, length]`` outputs itself.
* NumPy: eager calls under another Keras backend (JAX, PyTorch) and calls
  inside a Grain pipeline run the same C++ core through ``tf_mlm.numpy``, with
  no TensorFlow op involved. Dense results come back as the backend's tensors
  (NumPy arrays inside Grain), ragged ones as lists of lists.

Both paths select exactly ``ceil(selectable * mask_selection_rate)`` tokens
per row (capped at ``mask_selection_length``), and for the same stateless
seed give the same masks. That holds for the masking strategies too (tf_mlm
extensions, keyword arguments): whole words from a continuation table
(``tf_mlm.group_words`` / ``tf_mlm.numpy.group_words``), SpanBERT spans
(``tf_mlm.SpanItemSelector`` / ``tf_mlm.numpy.mask_spans``), and the
replacement law of ``tf_mlm.MaskValuesChooser`` (excluded ids, frequencies).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from tf_mlm._shared.args import NO_CAP, id_list
from tf_mlm._shared.seeds import stateless_pair
from tf_mlm.layers import _arguments as _arg
from tf_mlm.layers import _inputs as _in
from tf_mlm.layers import _outputs as _out
from tf_mlm.options import MASK_TOKEN_RATE, MAX_SPAN_LENGTH, RANDOM_TOKEN_RATE, MaskingOptions

__all__ = ["MaskedLMMaskGenerator"]


@keras.saving.register_keras_serializable(package="tf_mlm")
class MaskedLMMaskGenerator(keras.layers.Layer):
    """Masks token ids for masked language modelling, BERT style.

    A drop-in for ``keras_hub.layers.MaskedLMMaskGenerator``: same arguments,
    defaults and outputs, with the work done by tf_mlm's C++ kernels. In each
    sequence, ``ceil(n * mask_selection_rate)`` of its ``n`` selectable tokens
    (at most ``mask_selection_length``) are chosen uniformly at random; each
    chosen token becomes ``mask_token_id`` with probability
    ``mask_token_rate``, a uniform random id in ``[0, vocabulary_size)`` with
    probability ``random_token_rate``, and stays unchanged otherwise.

    Inputs may be Python lists, NumPy arrays, dense or ragged tensors: a batch
    (rank 2, ragged or not) or a single sequence (rank 1, with rank-1
    outputs). Use it eagerly, in a ``tf.data`` pipeline
    (``ds.map(masker)``) or in a functional Keras model.

    Every selectable token is masked at rate 1:

    >>> import tensorflow as tf
    >>> from tf_mlm.layers import MaskedLMMaskGenerator
    >>> masker = MaskedLMMaskGenerator(
    ...     vocabulary_size=100, mask_selection_rate=1.0, mask_token_id=3,
    ...     mask_selection_length=4, unselectable_token_ids=[0, 1, 2],
    ...     mask_token_rate=1.0, random_token_rate=0.0)
    >>> out = masker([[1, 7, 8, 2, 0], [1, 9, 2, 0, 0]])
    >>> out["token_ids"].numpy().tolist()
    [[1, 3, 3, 2, 0], [1, 3, 2, 0, 0]]
    >>> out["mask_positions"].numpy().tolist()
    [[1, 2, 0, 0], [1, 0, 0, 0]]
    >>> out["mask_ids"].numpy().tolist()
    [[7, 8, 0, 0], [9, 0, 0, 0]]
    >>> out["mask_weights"].numpy().tolist()
    [[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]

    Without ``mask_selection_length`` the selections are ragged:

    >>> masker = MaskedLMMaskGenerator(
    ...     vocabulary_size=100, mask_selection_rate=1.0, mask_token_id=3,
    ...     mask_token_rate=1.0, random_token_rate=0.0)
    >>> masker(tf.ragged.constant([[5, 6], [7, 0, 8]]))["mask_ids"]
    <tf.RaggedTensor [[5, 6], [7, 8]]>

    With a ``seed`` (a tf_mlm extension), masking is stateless: the same
    input gives the same masks on every call, in every process:

    >>> masker = MaskedLMMaskGenerator(
    ...     vocabulary_size=100, mask_selection_rate=0.5, mask_token_id=3, seed=42)
    >>> a = masker([[5, 6, 7, 8, 9, 10]])["mask_positions"]
    >>> b = masker([[5, 6, 7, 8, 9, 10]])["mask_positions"]
    >>> a.to_list() == b.to_list(), a.row_lengths().numpy().tolist()
    (True, [3])

    Args:
      vocabulary_size: int, the size of the vocabulary; random replacement
        ids are drawn from ``[0, vocabulary_size)``.
      mask_selection_rate: float >= 0, the fraction of each sequence's
        selectable tokens to select (1 or more selects them all).
      mask_token_id: int below ``vocabulary_size``, the id of the mask
        token.
      mask_selection_length: optional int >= 0, the most tokens selected per
        sequence. When set, ``mask_positions``, ``mask_ids`` and
        ``mask_weights`` are dense ``[batch, mask_selection_length]``, padded
        with 0, 0 and 0.0 (0 masks nothing and gives ``[batch, 0]``); when
        None (default), they are ragged.
      unselectable_token_ids: ids never selected (padding, ``[CLS]``,
        ``[SEP]``, ...). Defaults to ``[0]``.
      mask_token_rate: float, how often a selected token becomes
        ``mask_token_id``. Defaults to 0.8.
      random_token_rate: float, how often a selected token becomes a random
        id. ``mask_token_rate + random_token_rate`` must not exceed 1; the
        rest of the selected tokens keep their id. Defaults to 0.1.
      continuation_table: (tf_mlm extension, keyword only) None (default),
        or whole-word masking: a bool sequence over the vocabulary, True for
        the ids that continue the previous word (e.g.
        ``tf_mlm.vocab.wordpiece_continuation_table(vocab)``; ids beyond the
        table start words). Wordpieces are grouped into words and whole
        words are selected: ``mask_selection_rate`` counts selectable words
        (a word is selectable when none of its pieces is unselectable) and
        every piece of a selected word is masked. ``mask_selection_length``
        still caps the masked *tokens*: the pieces past it are left
        unmasked, as the dense kernel does.
      span_p: (tf_mlm extension, keyword only) None (default), or SpanBERT
        span masking with this geometric parameter in (0, 1] (SpanBERT:
        0.2): each sequence's budget of ``ceil(selectable tokens *
        mask_selection_rate)`` tokens (at most ``mask_selection_length``) is
        spent on spans of consecutive tokens, or of whole words with
        ``continuation_table``, that never cross an unselectable token.
      max_span_length: (tf_mlm extension, keyword only) the longest span,
        in tokens (in words with ``continuation_table``). Defaults to 10.
      excluded_token_ids: (tf_mlm extension, keyword only) ids never drawn
        as random replacements (e.g. special tokens); ids outside the
        vocabulary are ignored. Default None: none.
      replacement_frequencies: (tf_mlm extension, keyword only)
        ``vocabulary_size`` non-negative weights: random replacements are
        drawn in proportion to them (fairseq's
        ``freq_weighted_replacement``; excluded ids weigh 0). Default None:
        uniform. The sampling tables are built once per layer.
      seed: (tf_mlm extension, keyword only) None (default) for fresh
        randomness on every call, which on the TensorFlow path honours
        ``tf.random.set_seed``; or an int or a pair of ints for stateless
        masking: equal inputs give equal masks, on both paths. ``call`` also
        takes ``seed=`` (e.g. a per-element ``[2]`` seed tensor in
        ``tf.data``), which overrides this one for that call.
      **kwargs: other ``keras.layers.Layer`` arguments (``name``,
        ``dtype``, ...). ``mask_weights`` has the layer's compute dtype.

    Returns (from ``call``) a dict:
      ``token_ids``: the masked ids, same shape, dtype and kind (dense or
      ragged) as the input (lists become int32 tensors);
      ``mask_positions``: the positions of the selected tokens in each
      sequence, ascending (int64; the row-splits dtype for ragged input);
      ``mask_ids``: their original ids, dtype of the input;
      ``mask_weights``: 1.0 for every selection, 0.0 for padding.
    """

    def __init__(
        self,
        vocabulary_size,
        mask_selection_rate,
        mask_token_id,
        mask_selection_length=None,
        unselectable_token_ids=[0],  # noqa: B006
        mask_token_rate=MASK_TOKEN_RATE,
        random_token_rate=RANDOM_TOKEN_RATE,
        *,
        continuation_table=None,
        span_p=None,
        max_span_length=MAX_SPAN_LENGTH,
        excluded_token_ids=None,
        replacement_frequencies=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Inputs reach `call` as given: lists, NumPy, tf.RaggedTensor.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

        vocabulary_size, mask_token_id, mask_selection_length, unselectable_token_ids = (
            _arg.keras_hub_arguments(
                vocabulary_size, mask_token_id, mask_selection_length, unselectable_token_ids
            )
        )
        # Strategies (tf_mlm extensions; the defaults are keras_hub's layer).
        self._continuation = _arg.check_continuation_table(continuation_table, vocabulary_size)
        excluded = (
            None
            if excluded_token_ids is None
            else id_list("excluded_token_ids", excluded_token_ids)
        )
        frequencies = _arg.check_frequencies(replacement_frequencies, vocabulary_size)
        # The run's options, checked by the core under the layer's names; the
        # replacement law's tables built once, here.
        self._options = (
            MaskingOptions(
                vocab_size=vocabulary_size,
                mask_token=mask_token_id,
                selection_rate=mask_selection_rate,
                max_selections=mask_selection_length,
                span_p=span_p,
                max_span_length=max_span_length,
                mask_token_rate=mask_token_rate,
                random_token_rate=random_token_rate,
                excluded_ids=excluded,
                replacement_frequencies=frequencies,
                pad_to=mask_selection_length,
                names=_arg.ARGUMENT_NAMES,
            )
            .validate()
            .with_tables()
        )

        self.vocabulary_size = int(vocabulary_size)
        self.mask_selection_rate = mask_selection_rate
        self.mask_token_id = int(mask_token_id)
        self.mask_selection_length = (
            None if mask_selection_length is None else int(mask_selection_length)
        )
        self.unselectable_token_ids = unselectable_token_ids
        self.mask_token_rate = mask_token_rate
        self.random_token_rate = random_token_rate
        self.continuation_table = (
            None if self._continuation is None else self._continuation.tolist()
        )
        self.span_p = None if span_p is None else float(span_p)
        self.max_span_length = int(max_span_length)
        self.excluded_token_ids = excluded
        self.replacement_frequencies = None if frequencies is None else frequencies.tolist()
        self._tf_masking = None  # (kind, selector, chooser), made on first TF use
        self._stateless_seed = stateless_pair(seed)
        self.seed = (
            seed if not isinstance(seed, (tuple, np.ndarray)) else list(self._stateless_seed)
        )

    # ------------------------------------------------------------------ call

    def call(self, inputs, seed=None):
        """Masks ``inputs``; see the class docstring.

        Args:
          inputs: token ids, rank 1 or 2 (dense or ragged).
          seed: optional stateless seed for this call (an int, a pair of
            ints, or a shape-[2] int tensor on the TensorFlow path); default:
            the layer's ``seed``.
        """
        if self._use_tf_path():
            return self._call_tf(inputs, seed)
        return self._call_numpy(inputs, seed)

    def _use_tf_path(self) -> bool:
        if _in.in_tf_graph():
            return True
        if _in.in_grain():
            return False
        return keras.config.backend() == "tensorflow"

    # ------------------------------------------------------ TensorFlow path

    def _call_tf(self, inputs, seed):
        import tensorflow as tf

        from tf_mlm._shared import seeds
        from tf_mlm._tf import library

        with tf.device("cpu"):
            x = _in.to_tf(inputs)
            values, splits, unbatched = _in.tf_rows(x)
            seed_tensor = seeds.tf_layer_seed(seed, self._stateless_seed)
            nested = [splits]
            if self._continuation is not None:  # [batch, (words), (wordpieces)]
                words = library.ops().tfmlm_group_words(values, splits, self._continuation_tf())
                nested = list(words)
            new_values, *rest = self._fused_tf(values, nested, x.dtype, seed_tensor)
            return _out.tf_outputs(
                x, new_values, rest, self.mask_selection_length, unbatched, self.compute_dtype
            )

    def _masking_tf(self):
        """``(kind, selector, chooser)``: the layer's options as tf_mlm's
        selector (``RandomItemSelector``, or ``SpanItemSelector`` with
        ``span_p``) and ``MaskValuesChooser``, made on first use (the chooser
        builds its replacement tables once), and the fused kernel
        ``mask_language_model`` would run for them."""
        if self._tf_masking is None:
            from tf_mlm.text.item_selector import RandomItemSelector
            from tf_mlm.text.mask_values_chooser import MaskValuesChooser
            from tf_mlm.text.masking import _fused_kernel
            from tf_mlm.text.span_selector import SpanItemSelector

            o = self._options
            cap = NO_CAP if o.max_selections is None else o.max_selections
            if o.span_p is None:
                selector = RandomItemSelector(cap, o.selection_rate)
            else:
                selector = SpanItemSelector(
                    cap, o.selection_rate, p=o.span_p, max_span_length=o.max_span_length
                )
            chooser = MaskValuesChooser(
                o.vocab_size,
                o.mask_token,
                o.mask_token_rate,
                o.random_token_rate,
                excluded_ids=self.excluded_token_ids,
                replacement_frequencies=(
                    None
                    if self.replacement_frequencies is None
                    else np.asarray(self.replacement_frequencies, np.float32)
                ),
            )
            self._tf_masking = (_fused_kernel(selector, chooser), selector, chooser)
        return self._tf_masking

    def _continuation_tf(self):
        import tensorflow as tf

        from tf_mlm._tf import constants as _constants

        return _constants.cached(self, "continuation", lambda: tf.constant(self._continuation))

    def _fused_tf(self, values, nested, dtype, seed_tensor):
        """One fused kernel call: items are tokens, or words with two levels
        of splits; SpanBERT spans of them with ``span_p``. The cap is
        ``mask_selection_length`` (for spans: a token budget, so padding
        never cuts a span). -> ``(new values, positions, ids, weights)``
        with ``mask_selection_length``, else ``(new values, position values,
        position splits, id values)``."""
        from tf_mlm._tf import fused as _fused

        length = self.mask_selection_length
        kind, selector, chooser = self._masking_tf()
        new_values, *rest = _fused.mask_with(
            kind,
            selector,
            chooser,
            values,
            nested,
            self._unselectable_tf(dtype),
            seed_tensor,
            axis=1,
            output_length=length,
        )
        return (new_values, *rest)

    def _unselectable_tf(self, dtype):
        import tensorflow as tf

        return tf.constant(self._unselectable_array(dtype.name), dtype)

    def _unselectable_array(self, dtype_name):
        lo, hi = np.iinfo(dtype_name).min, np.iinfo(dtype_name).max
        # An id outside the dtype's range cannot occur in the input.
        return np.asarray(
            [i for i in self.unselectable_token_ids if lo <= i <= hi], dtype=dtype_name
        )

    # ----------------------------------------------------------- NumPy path

    def _call_numpy(self, inputs, seed):
        from tf_mlm import numpy as tfnp

        values, splits, shape, ragged = _in.to_numpy(inputs)
        _in.check_id_dtype(values.dtype.name)
        seed = stateless_pair(seed) if seed is not None else self._stateless_seed
        nested = (
            splits
            if self._continuation is None
            else tfnp.group_words(values, splits, self._continuation)
        )
        options = dataclasses.replace(
            self._options, unselectable_ids=self._unselectable_array(values.dtype.name)
        )
        result = tfnp.mask_with_options(values, nested, options, seed=seed)
        return _out.numpy_outputs(
            result, splits, shape, ragged, self.mask_selection_length, self.compute_dtype
        )

    # ---------------------------------------------------------------- config

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "mask_selection_rate": self.mask_selection_rate,
                "mask_selection_length": self.mask_selection_length,
                "unselectable_token_ids": list(self.unselectable_token_ids),
                "mask_token_id": self.mask_token_id,
                "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate,
            }
        )
        # The tf_mlm extensions appear only when set, so that configs of the
        # default layer stay keras_hub's (and load in keras_hub).
        extensions = {
            "continuation_table": self.continuation_table,
            "span_p": self.span_p,
            "max_span_length": None if self.max_span_length == 10 else self.max_span_length,
            "excluded_token_ids": self.excluded_token_ids,
            "replacement_frequencies": self.replacement_frequencies,
            "seed": self.seed,
        }
        config.update({k: v for k, v in extensions.items() if v is not None})
        return config
