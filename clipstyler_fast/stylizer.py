"""Inference: ``decoder(encoder(x))`` at an image's own size, loaded from a style checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import CheckpointError, check_format, check_state_dict, load_checkpoint_file
from .decoder import build_decoder
from .vgg import DEFAULT_VGG, VGGEncoder, load_vgg_encoder

POSTPROCESS = ("clamp", "contrast")


def pad_to_multiple(images: torch.Tensor, multiple: int = 8) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``(B, C, H, W)`` at the bottom/right to a multiple of ``multiple`` by reflection.

    Returns the padded batch and the original ``(H, W)`` to crop back to. Images too small to
    reflect (a side shorter than the padding) are padded by replication instead.
    """
    height, width = images.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h == 0 and pad_w == 0:
        return images, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode), (height, width)


def postprocess(images: torch.Tensor, mode: str = "clamp") -> torch.Tensor:
    """``clamp`` to [0, 1], or the reference's ``contrast``: contrast x1.5 then per-image min-max scaling."""
    if mode == "clamp":
        return images.clamp(0, 1)
    if mode == "contrast":
        from torchvision.transforms.v2.functional import adjust_contrast

        boosted = adjust_contrast(images.float(), 1.5)
        flat = boosted.flatten(1)
        low = flat.min(dim=1).values.view(-1, 1, 1, 1)
        high = flat.max(dim=1).values.view(-1, 1, 1, 1)
        return ((boosted - low) / (high - low).clamp_min(1e-8)).to(images.dtype)
    raise ValueError(f"unknown post-processing {mode!r}; use one of {', '.join(POSTPROCESS)}")


class Stylizer(nn.Module):
    """A trained style network: stylizes RGB images in [0, 1] of any size.

    Build it with :meth:`from_checkpoint`; call it on a ``(B, 3, H, W)`` tensor batch.
    """

    def __init__(self, encoder: VGGEncoder, decoder: nn.Module, prompt: str | None = None, postprocess: str = "clamp") -> None:
        super().__init__()
        if postprocess not in POSTPROCESS:
            raise ValueError(f"unknown post-processing {postprocess!r}; use one of {', '.join(POSTPROCESS)}")
        self.encoder = encoder
        self.decoder = decoder
        self.prompt = prompt
        self.postprocess = postprocess

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        vgg_weights: str | None = None,
        device: str | torch.device = "cpu",
        postprocess: str = "clamp",
    ) -> "Stylizer":
        """Load a ``style.ckpt`` / ``last.ckpt`` (safely, without running pickled code).

        ``vgg_weights`` overrides the VGG source recorded in the checkpoint (``imagenet`` or a
        local file); CLIP is never loaded.
        """
        checkpoint = load_checkpoint_file(path)
        meta = check_format(checkpoint, path)
        state = checkpoint.get("state_dict")
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: no model weights in this checkpoint")
        decoder = build_decoder()
        weights = {k.removeprefix("decoder."): v for k, v in state.items() if k.startswith("decoder.")}
        check_state_dict(decoder.state_dict(), weights, path, "decoder")
        decoder.load_state_dict(weights)
        hparams: dict[str, Any] = checkpoint.get("hyper_parameters", {}) or {}
        source = vgg_weights or hparams.get("vgg_weights") or meta.get("vgg_weights") or DEFAULT_VGG
        encoder = load_vgg_encoder(source)
        model = cls(encoder, decoder.eval().requires_grad_(False), meta.get("prompt"), postprocess)
        return model.to(device)

    def stylize(self, images: torch.Tensor) -> torch.Tensor:
        """Raw network output (not post-processed) for ``(B, 3, H, W)`` images of any size."""
        padded, (height, width) = pad_to_multiple(images)
        return self.decoder(self.encoder(padded))[..., :height, :width]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return postprocess(self.stylize(images), self.postprocess)
