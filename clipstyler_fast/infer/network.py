"""The frozen image-to-image network a style file holds: ``decoder(encoder(x))`` or a distilled student."""

from __future__ import annotations

from torch import nn

from clipstyler_fast.nets.decoder import EncoderDecoder, build_decoder
from clipstyler_fast.nets.student import build_student
from clipstyler_fast.nets.style_file import StyleFile
from clipstyler_fast.nets.style_kinds import STUDENT_NETWORK
from clipstyler_fast.nets.vgg import load_vgg_encoder


def load_network(style: StyleFile, vgg_weights: str | None = None) -> nn.Module:
    """The frozen image-to-image network a style file holds (its record's ``network``).

    ``decoder``: the decoder on the VGG encoder the style was trained on (from the weights it
    records, or ``vgg_weights`` instead); ``student``: the distilled student, which needs no encoder.
    """
    record = style.record
    if record.network == STUDENT_NETWORK:
        network: nn.Module = build_student(record.student or {})
        network.load_state_dict(style.weights)
    else:
        decoder = build_decoder()
        decoder.load_state_dict(style.weights)
        network = EncoderDecoder(load_vgg_encoder(vgg_weights or record.vgg_weights, record.encoder), decoder)
    return network.eval().requires_grad_(False)
