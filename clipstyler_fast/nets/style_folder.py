"""A style as a folder other tools can read, on disk or as a Hugging Face Hub repository:
``model.safetensors`` holds the tensors and ``config.json`` says what they are::

    config.json        {"format": "clipstyler-fast-style", "format_version": 1, "library_name": "clipstyler-fast",
                        "style": {...the record of the style file: network, prompt(s), encoder and its weights, CLIP...},
                        "hyper_parameters": {...the training options...}}
    model.safetensors  the style file's tensors under the same names (see style_kinds.py)

This module is the one reader and writer of those two files. Reading never unpickles anything
(JSON and safetensors only) and checks everything before a tensor is used: the format and its
version, that the tensors are the network the record names, and every tensor's name and shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from clipstyler_fast.errors import CheckpointError
from clipstyler_fast.io.atomic import atomic_write
from clipstyler_fast.nets.hub import LIBRARY_NAME, hub_snapshot, is_hub_id
from clipstyler_fast.nets.style_kinds import CONDITIONED_NETWORK, DECODER_NETWORK, NETWORKS, TEXT_DIRECTION, expected_tensors, held_network

FOLDER_FORMAT = "clipstyler-fast-style"
# Bumped when the layout of the two files changes incompatibly (the record inside has its own version).
FOLDER_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
SHARED_FILES = (CONFIG_FILE, WEIGHTS_FILE)
RESHARE = "share the style again from its style file with `clipstyler-fast share`"


@dataclass
class SharedStyle:
    """The contents of a shared folder: the style's record, its training options and its tensors."""

    record: dict[str, Any]
    hyper_parameters: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def locate_style(source: str | Path) -> Path:
    """Where a style lies on this machine: the local file or folder, or for ``hf://user/name[@revision]``
    the repository's snapshot folder in the Hugging Face cache (downloaded when not there yet)."""
    if is_hub_id(source):
        return hub_snapshot(str(source), SHARED_FILES)
    return Path(source).expanduser()


def source_path(source: str | Path) -> str | Path:
    """``source`` as messages and records name it: a path, or the Hub id as written."""
    return str(source) if is_hub_id(source) else Path(source)


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        if (folder / "style.ckpt").is_file():
            raise CheckpointError(f"{folder}: a training run's folder, not a shared style; pass its style file, {folder / 'style.ckpt'}")
        raise CheckpointError(
            f"{folder}: no {CONFIG_FILE}, so not a shared style; pass a folder written by `clipstyler-fast share`, or a style.ckpt"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable ({' '.join(str(error).split())[:200]}); {RESHARE}") from None
    if not isinstance(config, dict) or config.get("format") != FOLDER_FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise CheckpointError(f"{path}: not a clipstyler-fast style (format {found!r}, expected {FOLDER_FORMAT!r}); {RESHARE}")
    if config.get("format_version") != FOLDER_VERSION:
        raise CheckpointError(
            f"{path}: format version {config.get('format_version')!r} is not one this version of clipstyler-fast reads "
            f"({FOLDER_VERSION}); use the clipstyler-fast release that wrote it, or {RESHARE}"
        )
    if not isinstance(config.get("style"), dict) or not isinstance(config.get("hyper_parameters", {}), dict):
        raise CheckpointError(f"{path}: its 'style' or 'hyper_parameters' entry is not an object; {RESHARE}")
    return config


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path}: missing; a shared style needs its weights beside {CONFIG_FILE}; {RESHARE}")
    try:
        tensors = load_file(path)
    except Exception as error:  # safetensors' own error type, or an OS error: either way unusable
        detail = " ".join(str(error).split())[:200] or type(error).__name__
        raise CheckpointError(f"{path}: not a safetensors file ({detail}); {RESHARE}") from None
    bad = next((name for name, tensor in tensors.items() if not tensor.is_floating_point()), None)
    if bad is not None:
        raise CheckpointError(f"{path}: tensor {bad} holds {str(tensors[bad].dtype).removeprefix('torch.')}, not floats; {RESHARE}")
    return tensors


def _check_tensors(record: dict[str, Any], tensors: dict[str, torch.Tensor], path: Path) -> None:
    """One-line refusal unless ``tensors`` are, name for name and shape for shape, the network ``record`` names."""
    network = record.get("network", DECODER_NETWORK)
    if network not in NETWORKS:
        raise CheckpointError(
            f"{path.parent / CONFIG_FILE}: names a {network!r} network, which this version cannot run (it runs {', '.join(NETWORKS)})"
        )
    held = held_network(list(tensors))
    if held != network:
        holds = f"a {held} network's weights" if held else "no network's weights"
        raise CheckpointError(
            f"{path.parent}: {CONFIG_FILE} says it holds a {network} network, but {WEIGHTS_FILE} holds {holds}; {RESHARE}"
        )
    try:
        expected = expected_tensors(record)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path.parent / CONFIG_FILE}: its {network} record is incomplete ({error}); {RESHARE}") from None
    missing = [name for name in expected if name not in tensors]
    if missing:
        raise CheckpointError(f"{path}: tensor {missing[0]} is missing ({len(missing)} of {len(expected)} missing); {RESHARE}")
    direction = tensors.get(TEXT_DIRECTION)
    if direction is not None and (network == CONDITIONED_NETWORK or direction.dim() != 1):
        raise CheckpointError(
            f"{path}: tensor {TEXT_DIRECTION} of shape {tuple(direction.shape)} does not belong to a {network} network; {RESHARE}"
        )
    unknown = [name for name in tensors if name not in expected and name != TEXT_DIRECTION]
    if unknown:
        raise CheckpointError(f"{path}: tensor {unknown[0]} is not part of a {network} network ({len(unknown)} unknown); {RESHARE}")
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != shape:
            raise CheckpointError(
                f"{path}: tensor {name} has shape {tuple(tensors[name].shape)}, the {network} network of {CONFIG_FILE} needs {shape}; {RESHARE}"
            )


def read_style_folder(folder: Path) -> SharedStyle:
    """The checked contents of a shared style folder, or a one-line :class:`CheckpointError`."""
    config = _read_config(folder)
    tensors = _read_tensors(folder / WEIGHTS_FILE)
    _check_tensors(config["style"], tensors, folder / WEIGHTS_FILE)
    return SharedStyle(config["style"], dict(config.get("hyper_parameters") or {}), tensors)


def write_style_folder(folder: Path, style: SharedStyle) -> list[Path]:
    """Write ``model.safetensors`` and ``config.json`` into ``folder``, each atomically; returns their paths."""
    from safetensors.torch import save

    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in style.tensors.items()}
    _check_tensors(style.record, tensors, folder / WEIGHTS_FILE)
    config = {
        "format": FOLDER_FORMAT,
        "format_version": FOLDER_VERSION,
        "library_name": LIBRARY_NAME,
        "style": style.record,
        "hyper_parameters": style.hyper_parameters,
    }
    # default=str: a training option of a type JSON lacks (a path object, say) is kept as its text.
    text = json.dumps(config, indent=2, ensure_ascii=False, default=str) + "\n"
    weights = save(tensors, metadata={"format": "pt"})
    atomic_write(folder / WEIGHTS_FILE, lambda handle: handle.write(weights))
    atomic_write(folder / CONFIG_FILE, lambda handle: handle.write(text.encode("utf-8")))
    return [folder / WEIGHTS_FILE, folder / CONFIG_FILE]
