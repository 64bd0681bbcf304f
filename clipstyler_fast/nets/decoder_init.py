"""Where a new run's decoder starts from: AdaIN's trained decoder, a pre-trained one, a file."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from clipstyler_fast.errors import CheckpointError, WeightsUnavailableError
from clipstyler_fast.io.checkpoint_file import check_state_dict, load_checkpoint_file
from clipstyler_fast.nets.style_file import StyleRecord, decoder_weights
from clipstyler_fast.nets.vgg import ADAIN_RELEASE, LAYOUT_NAMES, weights_layout
from clipstyler_fast.nets.weights import cache_dir, cached_download, existing_file

# AdaIN's decoder trained to reconstruct photos from vgg_normalised relu4_1: the reference start.
ADAIN_DECODER_URL = f"{ADAIN_RELEASE}/decoder.pth"


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
            return cached_download(ADAIN_DECODER_URL, "AdaIN's trained decoder", "decoder_init", "pytorch-AdaIN")
        path = pretrained_decoder_path(encoder)
        return path if path.is_file() else None
    return existing_file(init, "decoder_init")


def load_decoder_weights(decoder: nn.Module, path: str | Path, encoder: str | None = None) -> None:
    """Load decoder weights from a plain state-dict file (AdaIN's ``decoder.pth``, ``pretrain``'s
    export) or a clipstyler-fast checkpoint.

    Raises a one-line error when the file is unreadable, holds another network, or is a
    checkpoint trained on another encoder than ``encoder``.
    """
    state = load_checkpoint_file(path)
    layout = weights_layout(state)
    if layout == "checkpoint":
        trained_on = StyleRecord.from_checkpoint(state, path).encoder
        if encoder is not None and trained_on != encoder:
            raise CheckpointError(
                f"{path}: its decoder was trained on the {trained_on} encoder, not {encoder}; "
                f"pass `encoder` {trained_on}, or another `decoder_init`"
            )
        state = decoder_weights(state, path)
    elif layout not in ("decoder", None):
        raise WeightsUnavailableError(
            f"{path}: holds {LAYOUT_NAMES[layout]}, not a decoder; pass AdaIN's decoder.pth, a decoder written by "
            "`clipstyler-fast pretrain` or a style checkpoint as `decoder_init`"
        )
    check_state_dict(decoder.state_dict(), state, path, "decoder")
    decoder.load_state_dict(state)
