"""tensorflow_text's masking API on tf_mlm's kernels: the item selectors,
``MaskValuesChooser``, ``mask_language_model`` and the word grouping ops.

Its public names are exported by ``tf_mlm`` itself (``import tf_mlm as
text``); the modules here mirror tensorflow_text's ``item_selector_ops`` and
``masking_ops``. Every module imports TensorFlow.
"""
