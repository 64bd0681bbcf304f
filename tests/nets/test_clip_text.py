"""CLIP's text tower as the product runs it: the padding after the longest text is dropped, with
the same embeddings as CLIP's own full-context pass."""

from __future__ import annotations

from pathlib import Path

import clip
import torch

from clipstyler_fast.nets.clip_model import load_clip
from clipstyler_fast.objective.templates import compose


def test_text_embeddings_equal_clips_full_context_pass(clip_path: Path) -> None:
    encoder = load_clip(clip_path)
    texts = [*compose("a watercolor painting")[:5], "x", "a much longer prompt with many more words than the others in this batch"]
    with torch.no_grad():
        ours = encoder.encode_text(texts)
        full = encoder.model.encode_text(clip.tokenize(texts, context_length=encoder.context_length))
    assert ours.shape == full.shape
    torch.testing.assert_close(ours, full, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ours[0], ours[-1])  # different texts, different embeddings
