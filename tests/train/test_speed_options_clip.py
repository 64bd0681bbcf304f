"""CLIP speed-ups: patch embedding as a matrix product, QuickGELU folded into SiLU, the plain
attention kernel on CPU, the last block for the class token alone.

Both must leave what CLIP computes unchanged: the loaded encoder is compared with clip-anytorch's
own model built from the same weight file.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from clipstyler_fast.nets.clip_model import ClassTokenBlock, ClipEncoder, PatchEmbedding, SelfAttention, load_clip


def original_clip(path: Path) -> nn.Module:
    import clip

    model, _ = clip.load(str(path), device="cpu", jit=False)
    return model.float().eval()


def images(count: int = 3, size: int = 32) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_loader_uses_patch_embedding_with_unchanged_weights(clip_path: Path) -> None:
    encoder = load_clip(clip_path)
    original = original_clip(clip_path)
    assert isinstance(encoder.model.visual.conv1, PatchEmbedding)
    assert type(original.visual.conv1) is nn.Conv2d
    assert list(encoder.model.state_dict()) == list(original.state_dict())
    torch.testing.assert_close(encoder.model.visual.conv1.weight, original.visual.conv1.weight)
    # The image tower's activations are one fused SiLU, its scale folded into the neighbouring weights.
    blocks = encoder.model.visual.transformer.resblocks
    assert blocks and all(isinstance(block.mlp.gelu, nn.SiLU) for block in blocks)
    torch.testing.assert_close(blocks[0].mlp.c_fc.weight, 1.702 * original.visual.transformer.resblocks[0].mlp.c_fc.weight)
    # The last block runs for the class token alone (the only token the embedding reads).
    assert isinstance(blocks[-1], ClassTokenBlock) and not any(isinstance(block, ClassTokenBlock) for block in blocks[:-1])


def test_image_embeddings_and_pixel_gradients_match_clip(clip_path: Path) -> None:
    encoder = load_clip(clip_path)
    original = original_clip(clip_path)
    x = images().requires_grad_(True)
    ours = encoder.encode_image(x)
    (grad_ours,) = torch.autograd.grad(ours.square().sum(), x)
    y = x.detach().requires_grad_(True)
    theirs = original.encode_image(encoder.preprocess(y))
    (grad_theirs,) = torch.autograd.grad(theirs.square().sum(), y)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=1e-4, atol=1e-6)


def test_patch_embedding_matches_the_convolution_and_falls_back() -> None:
    with torch.random.fork_rng():  # leave the global seed of later tests alone
        torch.manual_seed(0)
        conv = nn.Conv2d(3, 8, 4, stride=4, bias=True)
    patch = PatchEmbedding.from_conv(conv)
    assert patch.weight is conv.weight and patch.bias is conv.bias
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 16, 12, generator=generator)
    torch.testing.assert_close(patch(x), conv(x), rtol=1e-5, atol=1e-6)
    # Sizes that are not whole patches take the convolution path (same result as the conv).
    odd = torch.randn(1, 3, 18, 13, generator=generator)
    torch.testing.assert_close(patch(odd), conv(odd))


def test_bf16_autocast_embeddings_stay_close_to_fp32(clip_path: Path) -> None:
    encoder = load_clip(clip_path)
    x = images()
    with torch.no_grad():
        exact = encoder.encode_image(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast = encoder.encode_image(x)
        again = encoder.encode_image(x)
    assert exact.dtype == again.dtype == torch.float32 and fast.dtype == torch.bfloat16
    # Outside autocast nothing of the bf16 run lingers: the result is the fp32 one, exactly.
    assert torch.equal(again, exact)
    assert torch.nn.functional.cosine_similarity(fast.float(), exact, dim=-1).min() > 0.999


def test_encoder_wraps_an_existing_model_once(clip_path: Path) -> None:
    encoder = load_clip(clip_path)
    last = encoder.model.visual.transformer.resblocks[-1]
    again = ClipEncoder(encoder.model)
    assert again.model.visual.conv1 is encoder.model.visual.conv1
    assert again.model.visual.transformer.resblocks[-1] is last


def test_attention_at_leading_queries_is_those_rows_of_full_self_attention() -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        attention = SelfAttention(nn.MultiheadAttention(16, 4))
    tokens = torch.randn(7, 3, 16, generator=torch.Generator().manual_seed(2))
    full, _ = attention(tokens, tokens, tokens)
    torch.testing.assert_close(attention.attend(tokens[:2], tokens), full[:2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(attention.attend(tokens, tokens), full, rtol=1e-5, atol=1e-6)
