"""tf_mlm's benchmark suite: tf_mlm side by side with its peers.

Run ``python -m benchmarks`` (``--help`` for options). Performance is
measured and reported here, against the peers and the floors, never
asserted in tests. Modules: ``reference`` (the batches), ``timing`` (medians over
interleaved repeats), ``masking`` (tf_mlm vs tensorflow_text), ``scaling``,
``memory``, ``report`` (ratios, table, JSON, Markdown), ``plots``,
``suite`` (runs the sections).
"""
