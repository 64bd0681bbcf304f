"""Make the shared test helpers importable from this folder.

``tiny_style`` and ``predict_support`` live in ``tests/``, which is put on ``sys.path``. Test
modules there import helpers with ``from conftest import ...``; while tests in this folder run,
the module named ``conftest`` is this file, so it re-exports those helpers (not the fixtures,
which pytest already provides from ``tests/conftest.py``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from _pytest.fixtures import FixtureFunctionDefinition

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

_spec = importlib.util.spec_from_file_location("_tests_shared_conftest", TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)

# Every public helper of tests/conftest.py, but not its fixtures (pytest already has those).
globals().update(
    {
        name: value
        for name, value in vars(_shared).items()
        if not name.startswith("_") and name not in globals() and not isinstance(value, FixtureFunctionDefinition)
    }
)
