"""``python -m tf_mlm.cli``: the ``tf-mlm`` command."""

import sys

from tf_mlm.cli import main

sys.exit(main())
