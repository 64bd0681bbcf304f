"""Frozen networks inside a LightningModule: kept in eval mode and out of checkpoints."""

from __future__ import annotations

from typing import Any

from torch import nn

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
