import sys

from clipstyler_fast.cli.main import main

sys.exit(main())
