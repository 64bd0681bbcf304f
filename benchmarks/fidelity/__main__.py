"""``python -m benchmarks.fidelity`` (from the repository root) or ``python benchmarks/fidelity``."""

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.fidelity.run import main  # noqa: E402

sys.exit(main())
