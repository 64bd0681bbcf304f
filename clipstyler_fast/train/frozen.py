"""Frozen networks inside a LightningModule: kept in eval mode and out of checkpoints."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from clipstyler_fast.precision import autocast_dtype

# Attribute names of the frozen networks; they are reloaded from their sources, never stored.
FROZEN_NETWORKS = ("encoder", "clip")
FROZEN_PREFIXES = tuple(f"{name}." for name in FROZEN_NETWORKS)


class FrozenNetworksMixin(nn.Module):
    """Mix into a LightningModule whose ``encoder``/``clip`` attributes are frozen networks.

    ``train()`` leaves them in eval mode, ``state_dict()`` leaves them out (a checkpoint holds only
    what is trained), and ``load_state_dict()`` keeps the loaded ones in place of the missing keys.
    """

    def train(self, mode: bool = True) -> Any:
        super().train(mode)
        for name in FROZEN_NETWORKS:
            network = getattr(self, name, None)
            if network is not None:
                network.eval()
        return self

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        state = super().state_dict(*args, **kwargs)
        prefix = kwargs.get("prefix", "")
        for key in [k for k in state if k.removeprefix(prefix).startswith(FROZEN_PREFIXES)]:
            del state[key]
        return state

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        frozen = {k: v for k, v in super().state_dict().items() if k.startswith(FROZEN_PREFIXES)}
        return super().load_state_dict({**frozen, **state_dict}, strict=strict, assign=assign)

    def _frozen_dtype(self) -> torch.dtype | None:
        """The autocast dtype of the frozen networks (the ``frozen_precision`` hyperparameter), or None for fp32."""
        return autocast_dtype(self.hparams.frozen_precision, self.device, "frozen_precision")  # type: ignore[attr-defined]

    def frozen_passes(self) -> contextlib.AbstractContextManager[Any]:
        """Autocast for a pass through the frozen networks in ``frozen_precision``; nothing in fp32
        (so a trainer-wide autocast, if any, still applies)."""
        dtype = self._frozen_dtype()
        return torch.autocast(self.device.type, dtype=dtype) if dtype else contextlib.nullcontext()  # type: ignore[attr-defined]
