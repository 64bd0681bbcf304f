"""The frozen CLIP model (clip-anytorch): loading by name or local file, image and text encoding."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from clipstyler_fast.constants import DEFAULT_CLIP as DEFAULT_CLIP
from clipstyler_fast.errors import WeightsUnavailableError
from clipstyler_fast.nets.weights import download_failed

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class PatchEmbedding(nn.Conv2d):
    """CLIP's patch embedding (a convolution whose stride equals its kernel) as one matrix product.

    Same weights, same state-dict keys and the same result as the convolution; the backward
    pass to the pixels, which training needs, is a plain matrix product too, where oneDNN's
    strided-convolution backward is many times slower on CPU.
    """

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> PatchEmbedding:
        patch = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, bias=conv.bias is not None, device="meta")
        patch.weight = conv.weight
        patch.bias = conv.bias
        return patch

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = self.kernel_size[0]
        batch, channels, height, width = images.shape
        if self.stride != self.kernel_size or self.kernel_size[1] != size or height % size or width % size:
            return super().forward(images)
        rows, cols = height // size, width // size
        patches = (
            images.reshape(batch, channels, rows, size, cols, size)
            .permute(0, 2, 4, 1, 3, 5)
            .reshape(batch, rows, cols, channels * size * size)
        )
        out = F.linear(patches, self.weight.reshape(self.out_channels, -1), self.bias)
        return out.permute(0, 3, 1, 2)


class SelfAttention(nn.Module):
    """``nn.MultiheadAttention`` as CLIP's image tower calls it (self-attention, sequence first,
    no mask, no weights returned), with its own parameters and state-dict keys.

    The same arithmetic in fewer passes: the packed query/key/value projection is split by views
    instead of copied out in three (whose backward zero-fills and copies each part again).
    """

    def __init__(self, attention: nn.MultiheadAttention) -> None:
        super().__init__()
        self.num_heads = attention.num_heads
        self.in_proj_weight = attention.in_proj_weight
        self.in_proj_bias = attention.in_proj_bias
        self.out_proj = attention.out_proj

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, need_weights: bool = False, attn_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, None]:
        length, batch, width = query.shape
        # (L, N, 3E) -> three (N, heads, L, E / heads) views of one tensor.
        packed = F.linear(query, self.in_proj_weight, self.in_proj_bias).view(length, batch, 3, self.num_heads, -1)
        q, k, v = packed.permute(2, 1, 3, 0, 4).unbind(0)
        return self._output(F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)), None

    def attend(self, queries: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The attention output at ``queries`` ``(Lq, N, E)``, a leading part of ``tokens``
        ``(L, N, E)`` that all positions attend over: the rows of ``forward(tokens, ...)`` there."""
        (length, batch, width), count = tokens.shape, queries.shape[0]
        q = F.linear(queries, self.in_proj_weight[:width], self.in_proj_bias[:width])
        q = q.view(count, batch, self.num_heads, -1).permute(1, 2, 0, 3)
        packed = F.linear(tokens, self.in_proj_weight[width:], self.in_proj_bias[width:])
        k, v = packed.view(length, batch, 2, self.num_heads, -1).permute(2, 1, 3, 0, 4).unbind(0)
        return self._output(F.scaled_dot_product_attention(q, k, v))

    def _output(self, heads: torch.Tensor) -> torch.Tensor:
        # (N, heads, L, E / heads) -> (L, N, E), then the output projection.
        length, batch = heads.shape[2], heads.shape[0]
        return self.out_proj(heads.permute(2, 0, 1, 3).reshape(length, batch, -1))


def plain_self_attention(block: nn.Module) -> None:
    """Give a CLIP block :class:`SelfAttention` in place of its ``nn.MultiheadAttention``, where it
    is called as self-attention without a mask (the image tower)."""
    attention = getattr(block, "attn", None)
    if (
        type(attention) is nn.MultiheadAttention
        and getattr(block, "attn_mask", None) is None
        and attention._qkv_same_embed_dim
        and attention.in_proj_bias is not None
        and not attention.batch_first
    ):
        block.attn = SelfAttention(attention)


class ClassTokenBlock(nn.Module):
    """The image tower's last block, computed for the class token alone.

    CLIP's image embedding reads only the class token after the last block, so that block's
    other outputs are never used: its keys and values still come from every token, but its
    query, output projection and MLP (about five sixths of the block's arithmetic) run on one
    token instead of 50. Same parameters and state-dict keys as the block it replaces; its
    output is ``(1, N, E)``, the class token's row of the block's ``(L, N, E)``.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.attn, self.ln_1, self.mlp, self.ln_2 = block.attn, block.ln_1, block.mlp, block.ln_2

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        normed = self.ln_1(tokens)
        token = tokens[:1] + self.attn.attend(normed[:1], normed)
        return token + self.mlp(self.ln_2(token))


def class_token_last_block(visual: nn.Module) -> None:
    """Give a CLIP image tower :class:`ClassTokenBlock` as its last block, where the tower reads
    the class token alone (clip-anytorch's ``VisionTransformer``) and that block's attention is
    :class:`SelfAttention`."""
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if not (isinstance(blocks, nn.Sequential) and len(blocks) and hasattr(visual, "class_embedding")):
        return
    if isinstance(blocks[-1].attn, SelfAttention) and not isinstance(blocks[-1], ClassTokenBlock):
        blocks[-1] = ClassTokenBlock(blocks[-1])


def _contiguous_input(module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """CLIP hands its transformer the tokens as a permuted (sequence-first) view: made contiguous
    once here, every linear layer after it reads them without a copy, forward and backward (about
    6% of the image tower's time)."""
    return (args[0].contiguous(), *args[1:])


# CLIP's activation: QuickGELU(h) = h * sigmoid(1.702 h).
QUICK_GELU_SCALE = 1.702


def fold_quick_gelu(mlp: nn.Sequential) -> None:
    """Rewrite ``c_fc -> QuickGELU -> c_proj`` as ``1.702 c_fc -> SiLU -> c_proj / 1.702``, in place.

    With ``z = 1.702 h``, ``h * sigmoid(1.702 h) = silu(z) / 1.702``: the same function (to float
    rounding), but SiLU is one fused kernel forward and one backward, where QuickGELU runs three
    elementwise passes forward and five backward over the widest activations in the network
    (about a tenth of a CPU training step in fp32).
    """
    gelu, fc, proj = getattr(mlp, "gelu", None), getattr(mlp, "c_fc", None), getattr(mlp, "c_proj", None)
    if type(gelu).__name__ != "QuickGELU" or not isinstance(fc, nn.Linear) or not isinstance(proj, nn.Linear):
        return
    with torch.no_grad():
        fc.weight.mul_(QUICK_GELU_SCALE)
        if fc.bias is not None:
            fc.bias.mul_(QUICK_GELU_SCALE)
        proj.weight.div_(QUICK_GELU_SCALE)
    mlp.gelu = nn.SiLU()


class ClipEncoder(nn.Module):
    """A frozen CLIP model taking RGB images in [0, 1] of any size and raw token ids.

    Images are resized (bicubic) to the model's input resolution and normalised with CLIP's
    mean and std, as the reference recipe does.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        visual = model.visual
        if isinstance(getattr(visual, "conv1", None), nn.Conv2d) and not isinstance(visual.conv1, PatchEmbedding):
            visual.conv1 = PatchEmbedding.from_conv(visual.conv1)
        transformer = getattr(visual, "transformer", None)
        for block in getattr(transformer, "resblocks", []):
            fold_quick_gelu(block.mlp)
            plain_self_attention(block)
        class_token_last_block(visual)
        if isinstance(transformer, nn.Module):
            transformer.register_forward_pre_hook(_contiguous_input)
        self.model = model
        self.input_resolution: int = int(model.visual.input_resolution)
        self.context_length: int = int(model.context_length)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """Resize (bicubic) to the input resolution, only when needed."""
        size = self.input_resolution
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False)
        return images

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Resize to the input resolution (only when needed) and normalise."""
        images = self.resize(images)
        return (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Image embeddings (not normalised) of RGB images in [0, 1]."""
        # CLIP sees 50 tokens: in bf16 the plain attention kernel runs forward+backward about
        # 2.5x as fast as the fused CPU kernel on CPU; in fp32 the fused one is 1.3-1.7x faster.
        plain = images.device.type == "cpu" and torch.is_autocast_enabled("cpu")
        with sdpa_kernel([SDPBackend.MATH]) if plain else contextlib.nullcontext():
            return self.model.encode_image(self.preprocess(images))

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Text embeddings (not normalised) of a list of strings."""
        import clip

        tokens = clip.tokenize(texts, context_length=self.context_length, truncate=True)
        # CLIP's text attention is causal and the embedding is read at each text's end token, so
        # the padding after the longest text never reaches it: dropping it gives the same
        # embeddings, several times faster (templated prompts fill about 15 of 77 positions).
        length = int(tokens.argmax(dim=-1).max()) + 1
        return self.model.encode_text(tokens[:, :length].to(self.mean.device))


def clip_file(source: str | Path = DEFAULT_CLIP, download_root: str | Path | None = None) -> Path:
    """The local file of a CLIP model: a clip-anytorch model name downloaded once (and checked
    against its published hash), or an existing file."""
    import clip

    name = str(source)
    if name in clip.available_models():
        url = clip.clip._MODELS[name]
        root = Path(download_root).expanduser() if download_root else Path("~/.cache/clip").expanduser()
        try:
            return Path(clip.clip._download(url, str(root)))
        except Exception as error:
            raise download_failed(f"CLIP {name}", Path(url).name, url, "clip_model", error) from error
    path = Path(name).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(
            f"{name}: neither a CLIP model name ({', '.join(clip.available_models())}) nor an existing "
            "file; pass one of them as `clip_model`"
        )
    return path


def load_clip(source: str | Path = DEFAULT_CLIP, download_root: str | Path | None = None) -> ClipEncoder:
    """Load a frozen CLIP model from a clip-anytorch model name (downloads once) or a local file.

    A local file may be one of OpenAI's TorchScript archives (what the download stores) or a
    plain state dict of ``clip.model.CLIP``.
    """
    import clip

    model_path = clip_file(source, download_root)
    try:
        model, _ = clip.load(str(model_path), device="cpu", jit=False)
    except Exception as error:
        raise WeightsUnavailableError(f"{model_path}: cannot load CLIP weights ({error})") from error
    return ClipEncoder(model.float().eval().requires_grad_(False))
