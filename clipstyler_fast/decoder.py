"""The trained half of the style network: relu4_1 features back to an RGB image, and where a
new run's decoder starts from."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from .vgg import ADAIN_RELEASE, LAYOUT_NAMES, weights_layout
from .weights import WeightsUnavailableError, cache_dir, cached_download, existing_file

# AdaIN's decoder trained to reconstruct photos from vgg_normalised relu4_1: the reference start.
ADAIN_DECODER_URL = f"{ADAIN_RELEASE}/decoder.pth"
DECODER_OPTION = "--model.decoder_init"

# (in_channels, out_channels, upsample_after) for each reflection-padded 3x3 conv, mirroring
# VGG-19 up to relu4_1 as the AdaIN decoder does (same modules, so the same state-dict keys).
_LAYERS: tuple[tuple[int, int, bool], ...] = (
    (512, 256, True),
    (256, 256, False),
    (256, 256, False),
    (256, 256, False),
    (256, 128, True),
    (128, 128, False),
    (128, 64, True),
    (64, 64, False),
)


def build_decoder() -> nn.Sequential:
    """Return the decoder: 512-channel relu4_1 features at 1/8 size -> 3-channel image."""
    layers: list[nn.Module] = []
    for c_in, c_out, upsample in _LAYERS:
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3), nn.ReLU()]
        if upsample:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
    layers += [nn.ReflectionPad2d(1), nn.Conv2d(64, 3, 3)]
    return nn.Sequential(*layers)


def pretrained_decoder_path(encoder: str) -> Path:
    """Where ``clipstyler-fast pretrain`` writes its decoder for ``encoder`` by default, and where
    ``--model.decoder_init auto`` finds it: a fixed cache folder, not the working folder."""
    return cache_dir("clipstyler-fast") / f"decoder-{encoder}.pt"


def decoder_init_file(init: str | None, encoder: str) -> Path | None:
    """The file a new run's decoder starts from, or None for random weights.

    ``auto``: AdaIN's trained ``decoder.pth`` (downloaded once) for the ``adain`` encoder, the
    decoder ``pretrain`` wrote for any other encoder (None when there is none yet); ``random``:
    None; anything else: a local decoder state dict or clipstyler-fast checkpoint.
    """
    if init in (None, "", "random"):
        return None
    if init == "auto":
        if encoder == "adain":
            return cached_download(ADAIN_DECODER_URL, "AdaIN's trained decoder", f"{DECODER_OPTION} PATH", "pytorch-AdaIN")
        path = pretrained_decoder_path(encoder)
        return path if path.is_file() else None
    return existing_file(init, DECODER_OPTION)


def load_decoder_weights(decoder: nn.Module, path: str | Path, encoder: str | None = None) -> None:
    """Load decoder weights from a plain state-dict file (AdaIN's ``decoder.pth``, ``pretrain``'s
    export) or a clipstyler-fast checkpoint.

    Raises a one-line error when the file is unreadable, holds another network, or is a
    checkpoint trained on another encoder than ``encoder``.
    """
    from .checkpoints import CheckpointError, check_format, check_state_dict, load_checkpoint_file

    state = load_checkpoint_file(path)
    layout = weights_layout(state)
    if layout == "checkpoint":
        trained_on = check_format(state, path)["encoder"]
        if encoder is not None and trained_on != encoder:
            raise CheckpointError(
                f"{path}: its decoder was trained on the {trained_on} encoder, not {encoder}; "
                f"pass --model.encoder {trained_on}, or another {DECODER_OPTION}"
            )
        state = {k.removeprefix("decoder."): v for k, v in state["state_dict"].items() if k.startswith("decoder.")}
    elif layout not in ("decoder", None):
        raise WeightsUnavailableError(
            f"{path}: holds {LAYOUT_NAMES[layout]}, not a decoder; pass AdaIN's decoder.pth, a decoder written by "
            f"`clipstyler-fast pretrain` or a style checkpoint to {DECODER_OPTION}"
        )
    check_state_dict(decoder.state_dict(), state, path, "decoder")
    decoder.load_state_dict(state)
