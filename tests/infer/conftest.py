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

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

_spec = importlib.util.spec_from_file_location("_tests_shared_conftest", TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)

adain_decoder_network = _shared.adain_decoder_network
make_photo = _shared.make_photo
vgg_normalised_network = _shared.vgg_normalised_network
write_adain_decoder = _shared.write_adain_decoder
write_tiny_clip = _shared.write_tiny_clip
write_vgg = _shared.write_vgg
write_vgg_normalised = _shared.write_vgg_normalised
