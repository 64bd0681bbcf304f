"""``python -m clipstyler_fast.cli.help --write``: regenerate the shipped help texts."""

import sys

from clipstyler_fast.cli.help import main

sys.exit(main())
