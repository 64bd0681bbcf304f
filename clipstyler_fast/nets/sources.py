"""Every weight file a training run needs, settled at once."""

from __future__ import annotations

from pathlib import Path

from clipstyler_fast.nets.clip_model import clip_file
from clipstyler_fast.nets.decoder_init import decoder_init_file
from clipstyler_fast.nets.vgg import encoder_weights_file
from clipstyler_fast.nets.weights import gather


def settle_weight_files(
    clip_model: str, clip_download_root: str | None, encoder: str, vgg_weights: str, decoder_init: str | None = None
) -> list[Path | None]:
    """Download what is missing (once) or check the local files: CLIP, the encoder and, unless
    ``decoder_init`` is None (a resumed run), the decoder start. Every file that cannot be had
    is reported in one :class:`~clipstyler_fast.errors.WeightsUnavailableError`, before any
    network loads, so that an offline user learns every file to copy at once."""
    resolvers = [lambda: clip_file(clip_model, clip_download_root), lambda: encoder_weights_file(encoder, vgg_weights)]
    if decoder_init is not None:
        resolvers.append(lambda: decoder_init_file(decoder_init, encoder))
    return gather(*resolvers)
