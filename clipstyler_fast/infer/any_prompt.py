"""One style from a checkpoint: a per-prompt style file as it is, or an any-prompt network
specialised to a prompt.

Every inference tool (predict, video, export, evaluate, interpolate, the Python API) reads its
style through :func:`load_style`, so each of them takes both kinds of checkpoint. A prompt of the
network's bank needs no CLIP; another prompt needs CLIP's text tower once (the direction is then
cached, see :mod:`clipstyler_fast.infer.text_directions`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from clipstyler_fast.errors import CheckpointError
from clipstyler_fast.infer.text_directions import TextDirections
from clipstyler_fast.nets.conditioned_file import ConditionedFile
from clipstyler_fast.nets.conditioning import direction_at
from clipstyler_fast.nets.style_file import StyleFile, StyleRecord, prompt_needed, read_checkpoint


def is_any_prompt(path: str | Path) -> bool:
    """Whether ``path`` holds an any-prompt (conditioned) network."""
    return StyleRecord.from_checkpoint(read_checkpoint(path), path).is_conditioned


def prompt_directions(network: ConditionedFile, prompts: list[str], clip_model: str | None = None) -> torch.Tensor:
    """``(N, D)`` text directions of ``prompts`` for ``network``: from its bank, else from the cache or CLIP.

    ``clip_model`` is a local copy of the CLIP model the network was trained with (offline use).
    """
    found = [network.bank_direction(p) for p in prompts]
    missing = [p for p, d in zip(prompts, found) if d is None]
    if missing:
        directions = TextDirections(network.record.clip_model, network.record.source_text, load_from=clip_model).get(missing)
        computed = dict(zip(missing, directions))
        found = [d if d is not None else computed[p] for p, d in zip(prompts, found)]
    return torch.stack(found)


def check_prompt(prompt: str, path: str | Path) -> str:
    if not prompt or not prompt.strip():
        raise CheckpointError(f'{path}: an empty prompt; give the style in words, e.g. `prompt` "a watercolor painting"')
    return prompt.strip()


def load_style(path: str | Path, prompt: str | None = None, clip_model: str | None = None) -> StyleFile:
    """The style of a checkpoint: a per-prompt ``style.ckpt`` or student (``prompt`` must be None), or an
    any-prompt checkpoint specialised to ``prompt`` (required). ``path`` is a checkpoint file, a shared folder
    (``clipstyler-fast share``) or a Hub repository ``hf://user/name[@revision]``.

    Problems raise a one-line :class:`~clipstyler_fast.errors.CheckpointError` (or
    :class:`~clipstyler_fast.errors.WeightsUnavailableError` when CLIP is needed and missing).
    """
    checkpoint = read_checkpoint(path)
    record = StyleRecord.from_checkpoint(checkpoint, path)
    if not record.is_conditioned:
        if prompt is not None:
            raise CheckpointError(
                f"{path}: a single-style checkpoint (prompt {record.prompt!r}) takes no prompt; "
                "drop the prompt, or pass an any-prompt checkpoint (trained by `clipstyler-fast fit` with a prompt bank, `prompts`)"
            )
        return StyleFile.from_checkpoint(checkpoint, path).require_style()
    if prompt is None:
        raise prompt_needed(path)
    prompt = check_prompt(prompt, path)
    network = ConditionedFile.from_checkpoint(checkpoint, path)
    return network.style_file(prompt, prompt_directions(network, [prompt], clip_model)[0])


def blend_prompts(path: str | Path, prompt_a: str, prompt_b: str, alpha: float, clip_model: str | None = None) -> StyleFile:
    """The any-prompt network at the blend of two prompts' text directions:
    ``normalize((1 - alpha) dA + alpha dB)``; alpha 0 is ``prompt_a``'s style, 1 is ``prompt_b``'s."""
    network = ConditionedFile.read(path)
    a, b = check_prompt(prompt_a, path), check_prompt(prompt_b, path)
    da, db = prompt_directions(network, [a, b], clip_model)
    direction = direction_at(da, db, alpha)
    name = a if alpha == 0 else b if alpha == 1 else f"{1 - alpha:g} x {a} + {alpha:g} x {b}"
    interpolation = {"prompts": [a, b], "alpha": alpha, "source": str(path)}
    return network.style_file(name, direction, interpolation)
