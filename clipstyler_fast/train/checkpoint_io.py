"""Lightning checkpoint I/O that writes atomically and loads without running pickled code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from clipstyler_fast.io.atomic import atomic_torch_save
from clipstyler_fast.io.checkpoint_file import load_checkpoint_file
from clipstyler_fast.nets.style_file import StyleRecord, network_weights


@dataclass(frozen=True)
class LoadedCheckpoint:
    """What :class:`SafeCheckpointIO` last loaded: the file, and whether it holds a full training state."""

    path: str
    training_state: bool


class SafeCheckpointIO(TorchCheckpointIO):
    """Saves through a temporary file and a rename; loads with ``weights_only`` and checks the
    format and the network's shapes before Lightning sees the file.

    Args:
        preloaded: a ``(path, checkpoint)`` the command has already read (and checked): loading
            that path gives it back once instead of reading the file again.
    """

    last_loaded: LoadedCheckpoint | None = None

    def __init__(self, preloaded: tuple[str | Path, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.preloaded = preloaded

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: str | Path, map_location: Any | None = None, weights_only: bool | None = None) -> dict[str, Any]:
        if self.preloaded is not None and Path(self.preloaded[0]).expanduser().resolve() == Path(path).expanduser().resolve():
            checkpoint, self.preloaded = self.preloaded[1], None
        else:
            checkpoint = load_checkpoint_file(path, map_location=map_location or "cpu")
        network_weights(checkpoint, path, StyleRecord.from_checkpoint(checkpoint, path))
        self.last_loaded = LoadedCheckpoint(str(path), "optimizer_states" in checkpoint)
        return checkpoint
