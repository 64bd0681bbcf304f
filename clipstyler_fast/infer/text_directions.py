"""Text directions of prompts, computed once per CLIP model and kept in a small disk cache.

An any-prompt network needs a prompt's text direction ``dT`` (the mean CLIP text embedding over
the 79 templates, minus the source text's). Computing it takes CLIP's text tower; the result is
kept in ``$TORCH_HOME/hub/clipstyler_fast/text/<model key>.pt`` (``~/.cache/torch/hub/...`` by
default) so that the next run with the same prompt needs no CLIP at all.

A cache belongs to the CLIP weights it was computed with: when CLIP is a local file, the cache
records the file's size and modification time, and a file rewritten at the same path (retrained,
replaced) makes the cached directions stale: they are computed again. A named model (``ViT-B/32``)
is the file its download checks by hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from clipstyler_fast.io.atomic import atomic_torch_save
from clipstyler_fast.nets.weights import cache_dir
from clipstyler_fast.objective.losses import template_embedding, text_direction

EncodeText = Callable[[list[str]], torch.Tensor]
# The cache entry naming the CLIP file its directions came from (no prompt can be this text).
FINGERPRINT = "\0clip file"


class TextDirections:
    """The text directions of prompts for one CLIP model and source text.

    Args:
        clip_model: the CLIP model name or file a network was trained with, as its checkpoint
            records it: what the cache is kept under.
        source_text: the text the content is taken to be ("a Photo").
        download_root: folder for downloaded CLIP files.
        load_from: where to load that CLIP from, when not from ``clip_model`` (a local copy).
    """

    def __init__(
        self, clip_model: str, source_text: str = "a Photo", download_root: str | None = None, load_from: str | None = None
    ) -> None:
        self.clip_model = clip_model
        self.source_text = source_text
        self.download_root = download_root
        self.load_from = load_from or clip_model
        key = hashlib.sha256(f"{clip_model}\n{source_text}".encode()).hexdigest()[:20]
        self.path = cache_dir().parent / "clipstyler_fast" / "text" / f"{key}.pt"
        # ``size:mtime_ns`` of a local CLIP file (what changes when the file does), or None for a model name.
        local = Path(self.load_from).expanduser()
        stat = local.stat() if local.is_file() else None
        self.fingerprint = f"{stat.st_size}:{stat.st_mtime_ns}" if stat else None
        self.computed = 0

    def _cached(self) -> dict[str, torch.Tensor]:
        try:
            stored = torch.load(self.path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError):
            return {}  # no cache yet, or a damaged one: it is only a cache
        if not isinstance(stored, dict):
            return {}
        made_with = stored.pop(FINGERPRINT, None)
        # Stale when the CLIP file is here and is not the one the directions came from; when it
        # is gone, the cache is all there is.
        if self.fingerprint is not None and made_with != self.fingerprint:
            return {}
        return stored

    def get(self, prompts: Sequence[str], encode_text: EncodeText | None = None) -> torch.Tensor:
        """``(N, D)`` directions of ``prompts``; CLIP's text tower runs only for prompts not cached.

        ``encode_text`` is a loaded CLIP's text encoder to use; without it CLIP is loaded when needed.
        """
        cached = self._cached()
        missing = list(dict.fromkeys(p for p in prompts if p not in cached))
        if missing:
            if encode_text is None:
                from clipstyler_fast.nets.clip_model import load_clip

                encode_text = load_clip(self.load_from, self.download_root).encode_text
            source = template_embedding(encode_text, self.source_text)
            new = {prompt: text_direction(encode_text, prompt, self.source_text, source).cpu() for prompt in missing}
            self.computed += len(new)
            # Merge with what another process may have added meanwhile; the write is atomic.
            cached = {**self._cached(), **new}
            try:
                atomic_torch_save({**cached, **({FINGERPRINT: self.fingerprint} if self.fingerprint else {})}, self.path)
            except OSError:
                pass  # a read-only cache costs time on the next run, never a result
        return torch.stack([cached[p].float() for p in prompts])
