"""``python -m actmax_widgets``: the CLI (``cli``), which parses its arguments before TensorFlow loads."""
import sys

from .cli import main

sys.exit(main())
