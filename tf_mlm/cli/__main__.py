"""``python -m tf_mlm.cli``: the ``tf-mlm`` command."""

import sys

from tf_mlm.cli import main

if __name__ == "__main__":
    sys.exit(main())
