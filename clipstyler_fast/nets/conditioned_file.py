"""The any-prompt checkpoint as a typed object: the conditioned decoder, its prompt bank, and the
record of what it was made with; :meth:`ConditionedFile.style_file` turns it into an ordinary
style for one prompt.

On disk it is the same container as a style file (``nets/style_file.py``)::

    {"state_dict": {"decoder.<key>": ..., "film.<key>": ..., "bank_directions": (N, D)},
     "hyper_parameters": {...},
     "clipstyler_fast": {..., "network": "conditioned",
                         "conditioning": {"design", "embed_dim", "hidden", "bank_size", "bank_sha256", "prompts",
                                          "held_out"}}}
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from clipstyler_fast.errors import CheckpointError
from clipstyler_fast.io.atomic import atomic_torch_save
from clipstyler_fast.io.checkpoint_file import check_state_dict
from clipstyler_fast.nets.conditioning import DESIGN, ConditionedDecoder, ConditioningConfig, specialize
from clipstyler_fast.nets.style_file import FORMAT_KEY, StyleFile, StyleRecord, read_checkpoint
from clipstyler_fast.nets.style_folder import source_path
from clipstyler_fast.nets.style_kinds import BANK_KEY, DECODER_NETWORK, DECODER_PREFIX, FILM_PREFIX


def bank_sha256(prompts: Sequence[str]) -> str:
    """The identity of a prompt bank: SHA-256 of its prompts, one per line, in order."""
    return hashlib.sha256("\n".join(prompts).encode()).hexdigest()


def conditioning_record(config: ConditioningConfig, prompts: Sequence[str], held_out: Sequence[str] = ()) -> dict[str, Any]:
    """What a checkpoint records of its conditioning: the design, the prompt bank, and the prompts
    of the bank that training kept out (for validation on unseen prompts)."""
    bank = {"bank_size": len(prompts), "bank_sha256": bank_sha256(prompts), "prompts": list(prompts)}
    return {**config.to_dict(), **bank, "held_out": list(held_out)}


@dataclass
class ConditionedFile:
    """An any-prompt checkpoint in memory; read it with :meth:`read`."""

    record: StyleRecord
    network: ConditionedDecoder
    bank: list[str]
    bank_directions: torch.Tensor
    hyper_parameters: dict[str, Any] = field(default_factory=dict)
    # Where it was read from: a path, or a Hub id (hf://user/name) as given.
    path: Path | str | None = None
    held_out: list[str] = field(default_factory=list)

    @property
    def config(self) -> ConditioningConfig:
        return self.network.config

    @classmethod
    def read(cls, path: str | Path) -> ConditionedFile:
        """Load and check an any-prompt ``style.ckpt``, ``last.ckpt``, shared folder or ``hf://`` repository
        (without running pickled code)."""
        return cls.from_checkpoint(read_checkpoint(path), path)

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], path: str | Path | None = None) -> ConditionedFile:
        record = StyleRecord.from_checkpoint(checkpoint, path)
        if not record.is_conditioned:
            raise CheckpointError(
                f"{path}: a single-style checkpoint, not an any-prompt one; use it without a prompt, "
                "or train an any-prompt network (`clipstyler-fast fit` with a prompt bank, `prompts`)"
            )
        meta = record.conditioning or {}
        if meta.get("design") != DESIGN:
            raise CheckpointError(f"{path}: conditioning design {meta.get('design')!r} is not this version's {DESIGN!r}")
        config = ConditioningConfig.from_dict(meta)
        network = ConditionedDecoder(config)
        state = checkpoint.get("state_dict") or {}
        found = {k: v for k, v in state.items() if k.startswith((DECODER_PREFIX, FILM_PREFIX))}
        check_state_dict(network.state_dict(), found, path, "any-prompt network")
        network.load_state_dict(found)
        prompts = [str(p) for p in meta.get("prompts") or []]
        directions = state.get(BANK_KEY)
        if not isinstance(directions, torch.Tensor) or directions.shape != (len(prompts), config.embed_dim):
            raise CheckpointError(f"{path}: its prompt bank is damaged ({len(prompts)} prompts); retrain or use another checkpoint")
        hyper_parameters = dict(checkpoint.get("hyper_parameters") or {})
        held_out = [str(p) for p in meta.get("held_out") or []]
        network = network.eval().requires_grad_(False)
        where = source_path(path) if path is not None else None
        return cls(record, network, prompts, directions.float(), hyper_parameters, where, held_out)

    def to_checkpoint(self) -> dict[str, Any]:
        state = {k: v.detach().clone() for k, v in self.network.state_dict().items()}
        state[BANK_KEY] = self.bank_directions.detach().clone()
        record = replace(self.record, conditioning=conditioning_record(self.config, self.bank, self.held_out))
        return {"state_dict": state, "hyper_parameters": dict(self.hyper_parameters), FORMAT_KEY: record.to_dict()}

    def write(self, path: str | Path) -> Path:
        """Write atomically to ``path``."""
        atomic_torch_save(self.to_checkpoint(), path)
        return Path(path)

    def bank_direction(self, prompt: str) -> torch.Tensor | None:
        """The stored text direction of a prompt of the bank (no CLIP needed), or None."""
        return self.bank_directions[self.bank.index(prompt)] if prompt in self.bank else None

    def style_file(self, prompt: str, direction: torch.Tensor, interpolation: dict[str, Any] | None = None) -> StyleFile:
        """The ordinary style this network gives for ``prompt`` (whose text direction is ``direction``)."""
        if direction.shape != (self.config.embed_dim,):
            raise CheckpointError(
                f"{self.path}: a text direction of shape {tuple(direction.shape)} does not fit this network "
                f"(CLIP embedding width {self.config.embed_dim}); use the CLIP model it was trained with ({self.record.clip_model})"
            )
        weights = specialize(self.network.decoder, self.network.film, direction.float())
        record = replace(self.record, prompt=prompt, network=DECODER_NETWORK, conditioning=None, interpolation=interpolation)
        hyper_parameters = {**self.hyper_parameters, "specialized_from": str(self.path) if self.path else None}
        return StyleFile(record, weights, direction.float().clone(), hyper_parameters, path=self.path)
