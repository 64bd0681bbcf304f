"""Checkpoint files: atomic writes, safe loading, format checks, and where they go."""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

# Bumped when the meaning of a checkpoint's contents changes incompatibly.
FORMAT_VERSION = 1
FORMAT_KEY = "clipstyler_fast"
DEFAULT_ROOT = "checkpoints"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; ``str()`` is one line naming the file and the problem."""


def slugify(text: str) -> str:
    """A folder name for a prompt: lower case, words joined by dashes ("Sketch with black pencil" -> "sketch-with-black-pencil")."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80].rstrip("-") or "style"


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint without executing pickled code, or raise a one-line :class:`CheckpointError`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; check the path (or use --ckpt_path last to resume)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint; delete it and use an older one")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        text = str(error)
        if "Weights only load failed" in text or "Unsupported global" in text or "unsupported" in text.lower():
            raise CheckpointError(
                f"{path}: refused, the file contains pickled Python objects that would run code on load; "
                "only load checkpoints you trust, and re-save them as plain tensors"
            ) from None
        raise CheckpointError(f"{path}: corrupt checkpoint ({text.splitlines()[0] if text else 'unpickling failed'})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({first}); use another checkpoint") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: not a clipstyler-fast checkpoint (holds a {type(checkpoint).__name__})")
    return checkpoint


def check_format(checkpoint: dict[str, Any], path: str | Path | None = None) -> dict[str, Any]:
    """Return the checkpoint's clipstyler-fast metadata, or raise if it is missing or of another version."""
    where = f"{path}: " if path is not None else ""
    meta = checkpoint.get(FORMAT_KEY)
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}not a clipstyler-fast checkpoint (no '{FORMAT_KEY}' metadata)")
    version = meta.get("format_version")
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
        if tuple(found[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{where}{what} architecture differs: {key} has shape {tuple(found[key].shape)}, "
                f"this version expects {tuple(tensor.shape)}"
            )


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash or kill at any moment leaves either the old file or the new one, never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # some filesystems cannot fsync a directory; the rename is still atomic
        pass


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that writes atomically and loads without running pickled code."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: _PATH, map_location: Any | None = None, weights_only: bool | None = None) -> dict[str, Any]:
        checkpoint = load_checkpoint_file(path, map_location=map_location or "cpu")
        check_format(checkpoint, path)
        return checkpoint
