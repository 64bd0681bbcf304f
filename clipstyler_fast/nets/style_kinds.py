"""The networks a style can hold and the names of their tensors, one spelling for both of a style's
forms on disk: the checkpoint (``style_file.py``) and the shared folder (``style_folder.py``).

A style's tensors are the network's weights under its kind's prefix (``decoder.*`` for a
per-prompt decoder, ``student.*`` for a distilled student, ``decoder.*`` and ``film.*`` for the
any-prompt network), the prompt's CLIP text direction (``text_direction``), and for the
any-prompt network the directions of its prompt bank (``bank_directions``).
"""

from __future__ import annotations

from typing import Any, Final, Literal

import torch

from clipstyler_fast.nets.conditioning import ConditionedDecoder, ConditioningConfig
from clipstyler_fast.nets.decoder import build_decoder
from clipstyler_fast.nets.student import STUDENT_ARCHITECTURE, build_student

ARCHITECTURE = "vgg19-relu4_1/adain-decoder"
# A per-prompt decoder, a distilled student, or the any-prompt conditioned decoder (the decoder
# modulated by the prompt: the same architecture plus its conditioning, see conditioned_file.py).
# Stored as the plain string (a checkpoint's record must load with ``weights_only``).
Network = Literal["decoder", "student", "conditioned"]
DECODER_NETWORK: Final = "decoder"
STUDENT_NETWORK: Final = "student"
CONDITIONED_NETWORK: Final = "conditioned"
# Which network a style holds -> the architecture its record must name.
NETWORKS: dict[Network, str] = {DECODER_NETWORK: ARCHITECTURE, STUDENT_NETWORK: STUDENT_ARCHITECTURE, CONDITIONED_NETWORK: ARCHITECTURE}
DECODER_PREFIX = "decoder."
FILM_PREFIX = "film."
TEXT_DIRECTION = "text_direction"
BANK_KEY = "bank_directions"


def held_network(names: set[str] | list[str]) -> Network | None:
    """Which kind of network a set of tensor names is the weights of (None: none of them)."""
    if any(name.startswith(FILM_PREFIX) or name == BANK_KEY for name in names):
        return CONDITIONED_NETWORK
    for network in (STUDENT_NETWORK, DECODER_NETWORK):
        if any(name.startswith(f"{network}.") for name in names):
            return network
    return None


def expected_tensors(record: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor the network a record describes must hold (the text direction
    aside, which a per-prompt style may lack). Raises ``KeyError``, ``TypeError`` or ``ValueError``
    when the record does not describe a network this version builds."""
    network = record.get("network", DECODER_NETWORK)
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        if network == CONDITIONED_NETWORK:
            meta = record["conditioning"]
            config = ConditioningConfig.from_dict(meta)
            state = ConditionedDecoder(config).state_dict()
            shapes = {name: tuple(tensor.shape) for name, tensor in state.items()}
            return {**shapes, BANK_KEY: (len(meta.get("prompts") or []), config.embed_dim)}
        if network == STUDENT_NETWORK:
            state = build_student(record.get("student") or {}).state_dict()
        elif network == DECODER_NETWORK:
            state = build_decoder().state_dict()
        else:
            raise ValueError(f"unknown network {network!r}")
    return {f"{network}.{name}": tuple(tensor.shape) for name, tensor in state.items()}
