"""``python -m actmax_widgets``: the CLI (``cli``; ``atlas`` as the first argument builds an atlas),
which parses its arguments before TensorFlow loads."""
import sys

from .cli import main

sys.exit(main())
