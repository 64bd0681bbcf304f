"""The style checkpoint (``style.ckpt``) as a typed object: the network's weights, the prompt's
text direction, and the record of what they were made with.

Every command reads and writes style files through :class:`StyleFile`; the record
(:class:`StyleRecord`) is what tells a checkpoint's encoder, CLIP model and prompt apart, and it
is brought up to this version's format when an older file is read.

On disk a style file is a ``torch.save`` dict, a subset of a Lightning checkpoint::

    {"state_dict": {"<network>.<key>": tensor, ..., "text_direction": tensor},
     "hyper_parameters": {...training options...},
     "clipstyler_fast": {...StyleRecord...}}

or a shared folder (``model.safetensors`` and ``config.json``, see ``style_folder.py``), local or
on the Hugging Face Hub (``hf://user/name``), read into the same dict by :func:`read_checkpoint`.

The record's ``network`` says which network the weights are, and so their prefix: ``decoder``
(the decoder that runs on the frozen VGG encoder's features; files without the field) or
``student`` (a network distilled from such a style by ``clipstyler-fast distill``, whose shape
the record's ``student`` config gives).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from clipstyler_fast.errors import CheckpointError
from clipstyler_fast.io.atomic import atomic_torch_save
from clipstyler_fast.io.checkpoint_file import check_state_dict, load_checkpoint_file
from clipstyler_fast.nets.decoder import build_decoder
from clipstyler_fast.nets.student import build_student
from clipstyler_fast.nets.style_folder import locate_style, read_style_folder, source_path
from clipstyler_fast.nets.style_kinds import (
    ARCHITECTURE,
    CONDITIONED_NETWORK,
    DECODER_NETWORK,
    DECODER_PREFIX,
    NETWORKS,
    STUDENT_NETWORK,
    TEXT_DIRECTION,
    Network,
)

FORMAT_KEY = "clipstyler_fast"
# Bumped when the meaning of a checkpoint's contents changes incompatibly. Version 2 records the
# encoder kind ("adain" or "torchvision"); version 1 files were all made with torchvision's VGG-19.
FORMAT_VERSION = 2
_OPTIONAL = ("interpolation", "student", "teacher", "conditioning")
_MIGRATIONS: dict[int, dict[str, Any]] = {1: {"encoder": "torchvision", "vgg_weights": "imagenet"}}
DEFAULT_SOURCE_TEXT = "a Photo"


def read_checkpoint(source: str | Path) -> dict[str, Any]:
    """The checkpoint dict of a style, wherever it lies: a checkpoint file (loaded without running
    pickled code), a shared folder, or a Hub repository ``hf://user/name[@revision]`` (its cached
    snapshot, downloaded when needed). Problems raise a one-line :class:`CheckpointError`."""
    where = locate_style(source)
    if not where.is_dir():
        return load_checkpoint_file(where)
    shared = read_style_folder(where)
    return {"state_dict": shared.tensors, "hyper_parameters": shared.hyper_parameters, FORMAT_KEY: shared.record}


@dataclass(frozen=True)
class StyleRecord:
    """What a checkpoint records about its network.

    ``prompt`` is None for a decoder that reconstructs photos (``pretrain``), not a style.
    ``interpolation`` describes a blend of two styles (``interpolate``).
    ``network`` is the kind of network the weights are (a key of :data:`NETWORKS`); for a
    ``student``, ``student`` is its :class:`~clipstyler_fast.nets.student.StudentConfig` as a dict
    and ``teacher`` the style file it was distilled from; for the any-prompt ``conditioned``
    network, ``conditioning`` records its design and its prompt bank.
    """

    prompt: str | None
    encoder: str = "adain"
    vgg_weights: str = "auto"
    clip_model: str = ""
    source_text: str = DEFAULT_SOURCE_TEXT
    architecture: str = ARCHITECTURE
    format_version: int = FORMAT_VERSION
    interpolation: dict[str, Any] | None = None
    network: Network = DECODER_NETWORK
    student: dict[str, Any] | None = None
    teacher: str | None = None
    conditioning: dict[str, Any] | None = None

    @property
    def is_conditioned(self) -> bool:
        return self.network == CONDITIONED_NETWORK

    @property
    def is_style(self) -> bool:
        return self.prompt is not None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not (k in _OPTIONAL and v is None)}

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], path: str | Path | None = None) -> StyleRecord:
        """The record of a loaded checkpoint (older formats migrated), or a one-line :class:`CheckpointError`."""
        where = f"{path}: " if path is not None else ""
        meta = checkpoint.get(FORMAT_KEY)
        if not isinstance(meta, dict):
            raise CheckpointError(f"{where}not a clipstyler-fast checkpoint (no '{FORMAT_KEY}' metadata)")
        version = meta.get("format_version")
        if version in _MIGRATIONS:
            hparams = checkpoint.get("hyper_parameters") or {}
            recorded = {k: hparams[k] for k in ("vgg_weights",) if hparams.get(k)}
            meta = {**_MIGRATIONS[version], **meta, **recorded, "format_version": FORMAT_VERSION}
        elif version != FORMAT_VERSION:
            raise CheckpointError(
                f"{where}checkpoint format version {version} is not supported by this version "
                f"(expects {FORMAT_VERSION}); retrain or use the matching clipstyler-fast release"
            )
        network = meta.get("network", DECODER_NETWORK)
        if network not in NETWORKS:
            raise CheckpointError(
                f"{where}holds a {network!r} network, which this version cannot run (it runs {', '.join(NETWORKS)}); "
                "use the clipstyler-fast release that wrote it"
            )
        expected = NETWORKS[network]
        if meta.get("architecture", ARCHITECTURE) != expected:
            again = f"; distill it again from {meta.get('teacher') or 'its style'}" if network == STUDENT_NETWORK else ""
            raise CheckpointError(
                f"{where}checkpoint architecture {meta.get('architecture')!r} differs from this version's {expected!r}{again}"
            )
        known = {k: meta[k] for k in cls.__dataclass_fields__ if k in meta}
        known["source_text"] = known.get("source_text") or DEFAULT_SOURCE_TEXT
        known["clip_model"] = str(known.get("clip_model") or "")
        known["vgg_weights"] = str(known.get("vgg_weights") or "auto")
        return cls(**known)


def not_a_decoder(record: StyleRecord, path: str | Path | None) -> CheckpointError:
    """The one-line refusal of a file whose network is not a decoder, where a decoder is needed."""
    if record.network == STUDENT_NETWORK:
        teacher = f" ({record.teacher})" if record.teacher else ""
        return CheckpointError(
            f"{path}: holds a student distilled by `clipstyler-fast distill`, not a decoder; "
            f"pass the style checkpoint it was distilled from{teacher} instead"
        )
    return CheckpointError(f"{path}: holds a {record.network} network, not a decoder; pass a style.ckpt written by `clipstyler-fast fit`")


def prompt_needed(path: str | Path | None) -> CheckpointError:
    """The one-line refusal of an any-prompt checkpoint where a single style is needed without a prompt."""
    return CheckpointError(
        f'{path}: an any-prompt checkpoint, not a single style; give it a prompt (`prompt` "...", '
        "or Stylizer.from_checkpoint(path, prompt=...)), or refine one prompt into a style with `clipstyler-fast fit` and `init_from`"
    )


def network_weights(
    checkpoint: dict[str, Any], path: str | Path | None = None, record: StyleRecord | None = None
) -> dict[str, torch.Tensor]:
    """The state dict of the network a checkpoint's record names, checked against this version's architecture."""
    record = record or StyleRecord.from_checkpoint(checkpoint, path)
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no model weights in this checkpoint")
    # An any-prompt network's decoder is stored as a decoder's (its conditioning is checked by conditioned_file).
    prefix = DECODER_PREFIX if record.network == CONDITIONED_NETWORK else f"{record.network}."
    found = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        expected = (build_student(record.student or {}) if record.network == STUDENT_NETWORK else build_decoder()).state_dict()
    check_state_dict(expected, found, path, DECODER_NETWORK if record.network == CONDITIONED_NETWORK else record.network)
    return found


def decoder_weights(checkpoint: dict[str, Any], path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The decoder's state dict inside a checkpoint, checked against this version's decoder; a one-line
    :class:`CheckpointError` when the checkpoint holds another network (a student)."""
    record = StyleRecord.from_checkpoint(checkpoint, path) if FORMAT_KEY in checkpoint else StyleRecord(prompt=None)
    if record.network != DECODER_NETWORK:
        raise not_a_decoder(record, path)
    return network_weights(checkpoint, path, record)


@dataclass
class StyleFile:
    """A style checkpoint in memory: read it with :meth:`read`, write it with :meth:`write`."""

    record: StyleRecord
    weights: dict[str, torch.Tensor]
    text_direction: torch.Tensor | None = None
    hyper_parameters: dict[str, Any] = field(default_factory=dict)
    # Other top-level entries of the file (Lightning's version, for instance), kept as they were.
    extra: dict[str, Any] = field(default_factory=dict)
    # Where it was read from: a path, or a Hub id (hf://user/name) as given.
    path: Path | str | None = None

    @classmethod
    def read(cls, path: str | Path) -> StyleFile:
        """Load and check a ``style.ckpt``, ``last.ckpt``, shared folder or ``hf://`` repository (without running pickled code)."""
        return cls.from_checkpoint(read_checkpoint(path), path)

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], path: str | Path | None = None) -> StyleFile:
        record = StyleRecord.from_checkpoint(checkpoint, path)
        if record.is_conditioned:
            raise prompt_needed(path)
        weights = network_weights(checkpoint, path, record)
        direction = checkpoint["state_dict"].get(TEXT_DIRECTION)
        hyper_parameters = dict(checkpoint.get("hyper_parameters") or {})
        hyper_parameters.setdefault("encoder", record.encoder)
        extra = {k: v for k, v in checkpoint.items() if k in ("pytorch-lightning_version", "hparams_name")}
        usable = direction if isinstance(direction, torch.Tensor) and direction.numel() else None
        return cls(record, weights, usable, hyper_parameters, extra, source_path(path) if path is not None else None)

    def require_style(self) -> StyleFile:
        """This file, or a one-line error when it is a reconstruction decoder rather than a style."""
        if not self.record.is_style:
            raise CheckpointError(
                f"{self.path}: not a style checkpoint (a decoder from `clipstyler-fast pretrain`, with no prompt); "
                "pass a style.ckpt written by `clipstyler-fast fit`"
            )
        return self

    @property
    def decoder(self) -> dict[str, torch.Tensor]:
        """The decoder's weights; a one-line :class:`CheckpointError` when the file holds another network."""
        return self.require_decoder().weights

    def require_decoder(self) -> StyleFile:
        """This file, or a one-line error when its network is not a decoder (a distilled student)."""
        if self.record.network != DECODER_NETWORK:
            raise not_a_decoder(self.record, self.path)
        return self

    def with_record(self, **changes: Any) -> StyleFile:
        return replace(self, record=replace(self.record, **changes))

    def to_checkpoint(self) -> dict[str, Any]:
        state: dict[str, torch.Tensor] = {}
        if self.text_direction is not None:
            state[TEXT_DIRECTION] = self.text_direction
        state.update({f"{self.record.network}.{k}": v for k, v in self.weights.items()})
        hyper_parameters = {**self.hyper_parameters, "prompt": self.record.prompt}
        return {"state_dict": state, "hyper_parameters": hyper_parameters, FORMAT_KEY: self.record.to_dict(), **self.extra}

    def write(self, path: str | Path) -> Path:
        """Write atomically to ``path``."""
        atomic_torch_save(self.to_checkpoint(), path)
        return Path(path)
