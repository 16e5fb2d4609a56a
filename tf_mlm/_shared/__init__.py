"""Framework-free helpers shared by every front end: argument types
(``args``), the seed resolvers (``seeds``), ragged / padded layouts
(``layouts``), batching (``batching``, ``hf_padding``) and T5's lengths
(``t5_lengths``). The options model they serve is the public
:mod:`tf_mlm.options`. Nothing here imports TensorFlow at module import.
"""
