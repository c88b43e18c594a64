"""``python -m actmax_widgets``: the CLI (``cli``), which parses its arguments before TensorFlow loads."""
import sys

if sys.argv[1:2] == ["atlas"]:  # the atlas subcommand (issue #15): its own options
    from .atlas.cli import main as atlas_main

    sys.exit(atlas_main(sys.argv[2:]))

from .cli import main  # noqa: E402

sys.exit(main())
