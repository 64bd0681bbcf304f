"""Where a new training run's decoder starts: a reconstruction decoder (``--model.decoder_init``),
or an any-prompt network specialised to the run's prompt (``--model.init_from``, refine)."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from clipstyler_fast.errors import CheckpointError
from clipstyler_fast.nets.conditioned_file import ConditionedFile
from clipstyler_fast.nets.decoder_init import decoder_init_file, load_decoder_weights


def start_decoder(module: Any) -> None:
    """Load the start weights into ``module.decoder`` (a new run; a resumed one keeps its own)."""
    hp = module.hparams
    if getattr(hp, "init_from", None):
        refine_from(module, hp.init_from)
        return
    source = decoder_init_file(hp.decoder_init, hp.encoder)
    if source is None:
        remedy = (
            "leave `decoder_init` at auto to start from AdaIN's trained decoder"
            if hp.encoder == "adain"
            else f"pre-train it once with `clipstyler-fast pretrain` and `encoder` {hp.encoder}"
        )
        rank_zero_warn(
            f"starting the decoder from RANDOM weights: results need many more steps. To avoid it, {remedy}, "
            "or train longer with configs/from_scratch.yaml"
        )
        return
    load_decoder_weights(module.decoder, source, hp.encoder)
    rank_zero_info(f"decoder initialised from {source}")


def refine_from(module: Any, path: str) -> None:
    """Start from the any-prompt network at ``path`` specialised to the run's own text direction."""
    network = ConditionedFile.read(path)
    record, hp = network.record, module.hparams
    if record.encoder != hp.encoder:
        raise CheckpointError(
            f"{path}: trained with the {record.encoder} encoder, this run uses {hp.encoder}; pass `encoder` {record.encoder}"
        )
    if record.source_text != hp.source_text:
        raise CheckpointError(f"{path}: trained with source text {record.source_text!r}; pass `source_text` {record.source_text!r}")
    style = network.style_file(hp.prompt, module.text_direction.detach().float().cpu())
    module.decoder.load_state_dict(style.decoder)
    rank_zero_info(f"decoder initialised from {path}, specialised to {hp.prompt!r}")
