"""Train a small CLIP (clip-anytorch's own ``clip.model.CLIP``) on the synthetic world.

The product loads it like any CLIP file (``clipstyler_fast.clip_model.load_clip(path)``, i.e.
``clip.load(path, jit=False)`` -> ``clip.model.build_model``), so the training guidance in a
fidelity run goes through exactly the code a real ViT-B/32 would.

``build_model`` rebuilds the architecture from the state dict alone: it takes the text heads as
``transformer_width // 64`` (the vision heads are ``vision_width // 64`` in ``CLIP`` itself), so
both widths here are multiples of 64 and the heads follow that rule.

    python benchmarks/fidelity/train_clip.py --output world-clip.pt          # about 1-2 min on 2 cores
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.fidelity import world  # noqa: E402

# Input resolution 64 with 8 px patches: an 8x8 grid, fine enough for 5 px stripes.
WORLD_CLIP = dict(
    embed_dim=64,
    image_resolution=64,
    vision_layers=3,
    vision_width=128,
    vision_patch_size=8,
    context_length=32,  # the longest template with the longest prompt is under 20 tokens
    vocab_size=49408,  # clip.tokenize's vocabulary: ids go up to 49407
    transformer_width=64,
    transformer_heads=1,  # = transformer_width // 64, as build_model infers it
    transformer_layers=2,
)


def build(seed: int = 0) -> torch.nn.Module:
    from clip.model import CLIP

    torch.manual_seed(seed)
    return CLIP(**WORLD_CLIP)


def encode_images(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Embeddings of images in [0, 1], preprocessed as the product does (resize, CLIP mean/std)."""
    from clipstyler_fast.nets.clip_model import CLIP_MEAN, CLIP_STD

    size = model.visual.input_resolution
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return model.encode_image((images - mean) / std)


def encode_texts(model: torch.nn.Module, texts: list[str]) -> torch.Tensor:
    import clip

    return model.encode_text(clip.tokenize(texts, context_length=model.context_length, truncate=True))


def class_text_embeddings(encode_text, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(C, D)`` normalised template-mean embeddings of every class, as the product computes them."""
    from clipstyler_fast.objective.templates import compose

    rows = []
    with torch.no_grad():
        for name in world.CLASSES:
            # As losses.text_direction does: the mean of the raw embeddings, then normalised.
            rows.append(F.normalize(encode_text(compose(world.CAPTION_TEXT[name])).to(dtype).mean(0), dim=-1))
    return torch.stack(rows)


def accuracy(encode_image, encode_text, seed: int = 1234, per_class: int = 100, views: bool = False) -> dict[str, float]:
    """Zero-shot accuracy per class on fresh world images (half of the photos hard negatives).

    The class is the nearest template-mean text embedding, exactly the text side of training.
    With ``views``, every image is first zoomed/rotated/sheared as the training views are.
    """
    gen = torch.Generator().manual_seed(seed)
    images, labels = world.sample(per_class, 64, gen)
    if views:
        images = world.random_views(images, gen, fraction=1.0)
    texts = class_text_embeddings(encode_text)
    with torch.no_grad():
        feats = torch.cat([F.normalize(encode_image(chunk).float(), dim=-1) for chunk in images.split(200)])
    predicted = (feats @ texts.T).argmax(1)
    out = {name: float((predicted[labels == i] == i).float().mean()) for i, name in enumerate(world.CLASSES)}
    out["all"] = float((predicted == labels).float().mean())
    return out


def train(steps: int = 600, per_class: int = 12, seed: int = 0, log_every: int = 100, lr: float = 1e-3) -> torch.nn.Module:
    """Contrastive training, CLIP-style, with captions from the 79 templates.

    Each step draws ``per_class`` fresh images of every class (plain photos half hard
    negatives, half of all images under random views) and one caption per image; the loss is
    CLIP's symmetric cross-entropy, with every same-class caption counted as a match.
    """
    torch.manual_seed(seed)
    model = build(seed).float().train()
    gen = torch.Generator().manual_seed(seed + 1)
    rng = random.Random(seed + 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * s / steps)).item())
    )
    start = time.time()
    for step in range(steps):
        images, labels = world.sample(per_class, 64, gen)
        images = world.random_views(images, gen, fraction=0.5)
        captions = [world.caption(int(label), rng) for label in labels]
        image_features = F.normalize(encode_images(model, images), dim=-1)
        text_features = F.normalize(encode_texts(model, captions), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * image_features @ text_features.T
        same = (labels.view(-1, 1) == labels.view(1, -1)).float()
        targets = same / same.sum(1, keepdim=True)
        loss = 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}/{steps} loss {loss.item():.3f} ({time.time() - start:.0f} s)", flush=True)
    return model.eval()


def save(model: torch.nn.Module, path: Path) -> Path:
    """Save as an fp16 state dict: ``build_model`` converts to fp16 on load anyway."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(state, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True, help="where to write the CLIP state dict")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--per-class", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.time()
    model = train(args.steps, args.per_class, args.seed)
    save(model, args.output)
    print(f"trained in {time.time() - start:.0f} s; wrote {args.output} ({args.output.stat().st_size / 2**20:.1f} MiB)")

    from clipstyler_fast.nets.clip_model import load_clip

    loaded = load_clip(args.output)  # the product's own loader
    for views in (False, True):
        acc = accuracy(loaded.encode_image, loaded.encode_text, views=views)
        label = "under random views" if views else "plain"
        print(f"zero-shot accuracy ({label}): " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
