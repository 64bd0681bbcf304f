"""The CLIPstyler losses as pure functions on plain tensors.

Embeddings are passed raw (as CLIP returns them); every function normalises what the formula
normalises, so each can be checked against the formula directly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from clipstyler_fast.objective.templates import compose


def normalize(x: torch.Tensor) -> torch.Tensor:
    """L2-normalise along the last dimension."""
    return x / x.norm(dim=-1, keepdim=True)


def template_embedding(encode_text: Callable[[list[str]], torch.Tensor], text: str) -> torch.Tensor:
    """``normalize(mean(CLIP(template.format(text)) for template in the 79 templates))``."""
    with torch.no_grad():
        return normalize(encode_text(compose(text)).float().mean(dim=0))


def text_direction(
    encode_text: Callable[[list[str]], torch.Tensor], prompt: str, source: str = "a Photo", source_embedding: torch.Tensor | None = None
) -> torch.Tensor:
    """``dT = normalize(t - s)``: ``t`` and ``s`` are the template embeddings of the prompt and the source text.

    ``source_embedding`` is ``s`` when already computed (many prompts, one source).
    """
    target = template_embedding(encode_text, prompt)
    src = template_embedding(encode_text, source) if source_embedding is None else source_embedding
    return normalize(target - src)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between relu4_1 features of the output and of the content."""
    # Features may come from a bf16 pass; the error is summed in fp32.
    return F.mse_loss(features.float(), target.float())


def patch_directional_loss(
    view_features: torch.Tensor,
    source_features: torch.Tensor,
    direction: torch.Tensor,
    threshold: float = 0.7,
) -> torch.Tensor:
    """Patch-wise CLIP directional loss over augmented views.

    Args:
        view_features: ``(B, N, D)`` embeddings of ``N`` views of each of ``B`` outputs.
        source_features: ``(B, D)`` embeddings of the ``B`` content images.
        direction: ``(D,)`` text direction, or ``(B, D)``: one per output (any-prompt training).
        threshold: terms below it are zeroed (already close enough to the text direction).
    """
    src = normalize(source_features.float()).unsqueeze(1)
    image_dir = normalize(normalize(view_features.float()) - src)
    per_output = direction.float() if direction.dim() == 1 else direction.float().unsqueeze(1)
    loss = 1 - F.cosine_similarity(image_dir, per_output.expand_as(image_dir), dim=-1)
    return torch.where(loss < threshold, torch.zeros_like(loss), loss).mean()


def global_directional_loss(output_features: torch.Tensor, source_features: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Global CLIP directional loss between whole outputs ``(B, D)`` and their contents ``(B, D)``,
    along one text direction ``(D,)`` or one per output ``(B, D)``."""
    image_dir = normalize(normalize(output_features.float()) - normalize(source_features.float()))
    return (1 - F.cosine_similarity(image_dir, direction.float().expand_as(image_dir), dim=-1)).mean()


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Sum of the L2 norms of horizontal, vertical and both diagonal neighbour differences."""
    x = images.float()
    return (
        torch.linalg.vector_norm(x[..., :, :-1] - x[..., :, 1:])
        + torch.linalg.vector_norm(x[..., :-1, :] - x[..., 1:, :])
        + torch.linalg.vector_norm(x[..., 1:, :-1] - x[..., :-1, 1:])
        + torch.linalg.vector_norm(x[..., :-1, :-1] - x[..., 1:, 1:])
    )
