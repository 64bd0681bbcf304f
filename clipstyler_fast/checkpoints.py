"""Checkpoint files: atomic writes, safe loading, format checks, and where they go."""

from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from .atomic import atomic_write

# Bumped when the meaning of a checkpoint's contents changes incompatibly. Version 2 records the
# encoder kind ("adain" or "torchvision"); version 1 files were all made with torchvision's VGG-19.
FORMAT_VERSION = 2
_MIGRATIONS = {1: {"encoder": "torchvision", "vgg_weights": "imagenet"}}
FORMAT_KEY = "clipstyler_fast"
DEFAULT_ROOT = "checkpoints"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; ``str()`` is one line naming the file and the problem."""


def slugify(text: str) -> str:
    """A folder name for a prompt: lower case, words joined by dashes ("Sketch with black pencil" -> "sketch-with-black-pencil")."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80].rstrip("-") or "style"


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint without executing pickled code, or raise a one-line :class:`CheckpointError`.

    ``weights_only=True`` lets the unpickler build only tensors and plain containers; a file whose
    pickle would import and call anything else (``os.system``, a class's ``__reduce__``) is refused
    before any of it runs.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; check the path (or use --ckpt_path last to resume)")
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
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    # torch appends long advice after the first sentence of its zip errors
    return line.split(". ")[0].rstrip(".")[:200]


def _unpickling_detail(text: str) -> str:
    """The informative line of torch's (long, multi-paragraph) weights-only unpickling error."""
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    skip = ("Weights only load failed", "Please file an issue", "Check the documentation", "Re-running", "In PyTorch")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(skip)]
    return (lines[0] if lines else "unpickling failed")[:200]


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files that :func:`atomic_torch_save` left behind when a process was killed mid-save."""
    removed = []
    for tmp in Path(folder).glob(".*"):
        if _TEMPORARY.match(tmp.name) and tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


# The names of atomic_torch_save's temporary files (".<name>.<random>.tmp") and of the write probe.
_TEMPORARY = re.compile(r"^\.(.+\.(ckpt|pt|pth)\.[^.]+\.tmp|write-probe-.+)$")


def check_format(checkpoint: dict[str, Any], path: str | Path | None = None) -> dict[str, Any]:
    """Return the checkpoint's clipstyler-fast metadata (older versions brought up to this one's
    keys), or raise if it is missing or of an unknown version."""
    where = f"{path}: " if path is not None else ""
    meta = checkpoint.get(FORMAT_KEY)
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}not a clipstyler-fast checkpoint (no '{FORMAT_KEY}' metadata)")
    version = meta.get("format_version")
    if version in _MIGRATIONS:
        hparams = checkpoint.get("hyper_parameters") or {}
        recorded = {k: hparams[k] for k in ("vgg_weights",) if hparams.get(k)}
        return {**_MIGRATIONS[version], **meta, **recorded, "format_version": FORMAT_VERSION}
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{where}checkpoint format version {version} is not supported by this version "
            f"(expects {FORMAT_VERSION}); retrain or use the matching clipstyler-fast release"
        )
    return meta


def check_state_dict(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], path: str | Path | None, what: str) -> None:
    """Raise a one-line :class:`CheckpointError` saying how ``found`` differs from the architecture ``expected``."""
    where = f"{path}: " if path is not None else ""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        detail = []
        if missing:
            detail.append(f"missing {len(missing)} tensors (first {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unknown tensors (first {unexpected[0]})")
        raise CheckpointError(f"{where}{what} architecture differs: " + ", ".join(detail))
    for key, tensor in expected.items():
        shape = tuple(getattr(found[key], "shape", ()))
        if shape != tuple(tensor.shape):
            raise CheckpointError(
                f"{where}{what} architecture differs: {key} has shape {shape}, this version expects {tuple(tensor.shape)}"
            )


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash or kill at any moment leaves either the old file or the new one, never a partial one.
    """
    atomic_write(path, lambda handle: torch.save(obj, handle))


@dataclass(frozen=True)
class LoadedCheckpoint:
    """What :class:`SafeCheckpointIO` last loaded: the file, and whether it holds a full training state."""

    path: str
    training_state: bool


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that writes atomically and loads without running pickled code."""

    last_loaded: LoadedCheckpoint | None = None

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: _PATH, map_location: Any | None = None, weights_only: bool | None = None) -> dict[str, Any]:
        checkpoint = load_checkpoint_file(path, map_location=map_location or "cpu")
        check_format(checkpoint, path)
        check_decoder(checkpoint, path)
        self.last_loaded = LoadedCheckpoint(str(path), "optimizer_states" in checkpoint)
        return checkpoint


def check_decoder(checkpoint: dict[str, Any], path: str | Path | None = None) -> None:
    """Raise a one-line :class:`CheckpointError` when the checkpoint's decoder is not this version's decoder."""
    from .decoder import build_decoder

    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no model weights in this checkpoint")
    found = {k.removeprefix("decoder."): v for k, v in state.items() if k.startswith("decoder.")}
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        expected = build_decoder().state_dict()
    check_state_dict(expected, found, path, "decoder")
