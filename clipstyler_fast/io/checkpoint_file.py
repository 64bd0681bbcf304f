"""Reading checkpoint files safely: no pickled code runs, and damage is one clear line."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from clipstyler_fast.errors import CheckpointError, first_line


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint without executing pickled code, or raise a one-line :class:`CheckpointError`.

    ``weights_only=True`` lets the unpickler build only tensors and plain containers; a file whose
    pickle would import and call anything else (``os.system``, a class's ``__reduce__``) is refused
    before any of it runs.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; check the path (or use `ckpt_path` last to resume)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint; delete it and use an older one")
    try:
        with warnings.catch_warnings():
            # A plain pickle file (not torch.save's format) makes torch warn before it is refused below.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        detail = _unpickling_detail(str(error))
        if any(marker in detail for marker in _CODE_MARKERS):
            raise CheckpointError(
                f"{path}: refused: loading it would run code stored in the file ({detail}); "
                "only use checkpoints from sources you trust, saved as plain tensors"
            ) from None
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({detail}); use another checkpoint") from None
    except PermissionError as error:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({error.strerror})") from None
    except Exception as error:  # zip, pickle, storage and decoding errors all mean a damaged file here
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({_first_line(error)}); use another checkpoint") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: not a clipstyler-fast checkpoint (holds a {type(checkpoint).__name__})")
    return checkpoint


# Phrases of torch's weights-only unpickler that mean "this pickle wants to import or call code".
_CODE_MARKERS = ("GLOBAL", "Can only build", "Can only create", "reduce for", "add_safe_globals")


def _first_line(error: BaseException) -> str:
    # torch appends long advice after the first sentence of its zip errors
    return first_line(error).split(". ")[0].rstrip(".")[:200]


def _unpickling_detail(text: str) -> str:
    """The informative line of torch's (long, multi-paragraph) weights-only unpickling error."""
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    skip = ("Weights only load failed", "Please file an issue", "Check the documentation", "Re-running", "In PyTorch")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(skip)]
    return (lines[0] if lines else "unpickling failed")[:200]


def check_state_dict(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], path: str | Path | None, what: str) -> None:
    """Raise a one-line :class:`CheckpointError` saying how ``found`` differs from the architecture ``expected``."""
    where = f"{path}: " if path is not None else ""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        detail = [f"missing {len(missing)} tensors (first {missing[0]})"] if missing else []
        detail += [f"{len(unexpected)} unknown tensors (first {unexpected[0]})"] if unexpected else []
        raise CheckpointError(f"{where}{what} architecture differs: " + ", ".join(detail))
    for key, tensor in expected.items():
        shape = tuple(getattr(found[key], "shape", ()))
        if shape != tuple(tensor.shape):
            raise CheckpointError(
                f"{where}{what} architecture differs: {key} has shape {shape}, this version expects {tuple(tensor.shape)}"
            )
