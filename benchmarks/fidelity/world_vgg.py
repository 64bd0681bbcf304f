"""The world's VGG-19: trained on world photos, so that its relu4_1 sees their layout as a pretrained one sees a photo's.

The reference recipe keeps the photo through its content loss at relu4_1, weighed for a
pretrained VGG-19. A pretrained network's relu4_1 holds the photo's edges and layout: an image
flattened to its mean colour, or shifted by a few pixels, is far from it, much further than a
good reconstruction. Random weights do not do that, even rescaled per layer (see
:func:`random_world_vgg_state`): a flat image then costs the content term hardly more than a
reconstruction, so a style can paint one flat image of the right colour and pay almost nothing.

So the world's encoder is trained here, with VGG-19's own layers up to relu4_1 in either released
layout (torchvision's ``features.N`` or AdaIN's ``vgg_normalised``): as the encoder of an
autoencoder whose decoder is the product's, on fresh world photos, from the rescaled random start.
Reconstructing a photo through relu4_1 is what forces that layer to carry its edges and layout.
The decoder trained beside it is a start decoder for ``fit --model.decoder_init``. Finally
relu4_1 is scaled to unit spread over world photos (a pretrained network's order of magnitude),
and the decoder's first convolution by the inverse, so the pair computes the same images.

:func:`realism` measures what the content loss sees (relu4_1 MSE to the content) for a
reconstruction, a flat image of each photo's mean colour and a copy shifted by 8 px.

    python benchmarks/fidelity/world_vgg.py --output W/vgg19-world.pth --decoder W/start-decoder.pt
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.fidelity import world  # noqa: E402

# torchvision's VGG-19 ``features`` up to and including relu4_1: what the product loads.
RELU4_1 = 21
# What the world is measured with, and the schedule that meets the realism criteria.
TRAIN_STEPS, TRAIN_BATCH, TRAIN_SIZE, TRAIN_LR = 3000, 8, 48, 3e-4


@torch.no_grad()
def random_world_vgg_state(seed: int = 0, photos: int = 32, size: int = 64) -> dict[str, torch.Tensor]:
    """Seeded random VGG-19 (up to relu4_1), each convolution scaled to unit output spread on world photos.

    The data-dependent start of LSUV (Mishkin & Matas 2016), zero biases; torchvision's layout.
    This was the world's VGG before it was trained, and is the trained one's starting point.
    """
    from torchvision.models import vgg19

    from clipstyler_fast.nets.vgg import ImageNetNormalize

    torch.manual_seed(seed)
    features = vgg19().features[:RELU4_1]
    unit_spread(features, ImageNetNormalize()(world.photos(photos, size, torch.Generator().manual_seed(seed + 5))))
    return {f"features.{k}": v for k, v in features.state_dict().items()}


@torch.no_grad()
def unit_spread(layers: nn.Sequential, signal: torch.Tensor) -> torch.Tensor:
    """LSUV's data-dependent start, in place: each convolution's bias zeroed and its weight
    scaled so that its output on ``signal`` has unit spread; returns the last layer's output."""
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            layer.bias.zero_()
            layer.weight.div_(layer(signal).std())
        signal = layer(signal)
    return signal


def _encoder(kind: str, seed: int) -> nn.Module:
    """The product's encoder of ``kind`` with the rescaled random weights, trainable."""
    from clipstyler_fast.nets.vgg import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        VGGEncoder,
        build_adain_features,
        build_torchvision_features,
    )

    convs = [v for k, v in sorted(random_world_vgg_state(seed).items(), key=lambda kv: int(kv[0].split(".")[1]))]
    if kind == "torchvision":
        features = build_torchvision_features()
        targets = [m for m in features if isinstance(m, nn.Conv2d)]
    else:
        features = build_adain_features()
        first, *targets = [m for m in features if isinstance(m, nn.Conv2d)]
        # vgg_normalised normalises its input in its first, 1x1, convolution.
        with torch.no_grad():
            first.weight.copy_(torch.diag(1 / torch.tensor(IMAGENET_STD)).view(3, 3, 1, 1))
            first.bias.copy_(-torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD))
    with torch.no_grad():
        for conv, weight, bias in zip(targets, convs[0::2], convs[1::2], strict=True):
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
    return VGGEncoder(features, kind)  # type: ignore[arg-type]


def train_world_vgg(
    steps: int = TRAIN_STEPS,
    kind: str = world.ENCODER,
    batch: int = TRAIN_BATCH,
    size: int = TRAIN_SIZE,
    lr: float = TRAIN_LR,
    seed: int = 0,
    log_every: int = 250,
) -> tuple[nn.Module, nn.Sequential]:
    """Train encoder (VGG-19 to relu4_1) and the product's decoder as an autoencoder of world photos.

    Returns ``(encoder, decoder)`` in eval mode, relu4_1 scaled to unit spread on world photos.
    """
    from clipstyler_fast.nets.decoder import build_decoder

    torch.manual_seed(seed)
    encoder, decoder = _encoder(kind, seed), build_decoder()
    _unit_start(decoder, encoder, seed)
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=lr)
    gen = torch.Generator().manual_seed(seed + 11)
    start = time.time()
    for step in range(steps):
        images = world.photos(batch, size, gen)
        loss = F.mse_loss(decoder(encoder(images)), images)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"world VGG step {step + 1}/{steps}: psnr {-10 * loss.log10().item():.1f} dB ({time.time() - start:.0f} s)", flush=True)
    encoder.eval().requires_grad_(False)
    decoder.eval().requires_grad_(False)
    _unit_relu4_1(encoder, decoder, seed)
    return encoder, decoder


@torch.no_grad()
def _unit_start(decoder: nn.Sequential, encoder: nn.Module, seed: int) -> None:
    """LSUV for the decoder too: PyTorch's default initialisation shrinks the signal through
    its nine convolutions, so the untrained pair outputs a constant and learns slowly. Each
    convolution is scaled to unit output spread (zero bias); the last one to the photos' own
    spread around their mean colour."""
    images = world.photos(32, 64, torch.Generator().manual_seed(seed + 5))
    signal = encoder(images)
    convs = [m for m in decoder if isinstance(m, nn.Conv2d)]
    for layer in decoder:
        if isinstance(layer, nn.Conv2d):
            layer.bias.zero_()
            layer.weight.div_(layer(signal).std())
            if layer is convs[-1]:
                layer.weight.mul_(images.std())
                layer.bias.copy_(images.mean(dim=(0, 2, 3)))
        signal = layer(signal)


@torch.no_grad()
def _unit_relu4_1(encoder: nn.Module, decoder: nn.Sequential, seed: int) -> None:
    """Scale relu4_1 to unit spread (its last convolution; ReLU commutes with a positive scale)
    and the decoder's first convolution by the inverse: the same images, a pretrained scale."""
    spread = encoder(world.photos(32, 64, torch.Generator().manual_seed(seed + 5))).std()
    last = [m for m in encoder.modules() if isinstance(m, nn.Conv2d)][-1]
    last.weight.div_(spread)
    last.bias.div_(spread)
    first = next(m for m in decoder if isinstance(m, nn.Conv2d))
    first.weight.mul_(spread)


# torchvision's VGG-19 ``features`` up to relu5_2: the per-image mode's content layers.
RELU5_2 = 32


@torch.no_grad()
def beyond_relu4_1(encoder: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """torchvision's layers 21-31 (conv4_2 .. relu5_2): seeded random, each convolution scaled to
    unit output spread on the trained relu4_1 of world photos (zero biases), so that the
    per-image mode's content layers sit on features that see layout."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(seed + 21)
    layers = make_layers(cfgs["E"])[RELU4_1:RELU5_2]
    unit_spread(layers, encoder(world.photos(32, 64, torch.Generator().manual_seed(seed + 5))))
    # A slice of a Sequential keeps its modules' indices: the keys are torchvision's already.
    return {f"features.{k}": v for k, v in layers.state_dict().items()}


def released_state(encoder: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """The encoder's weights in its released layout: ``features.N`` (torchvision, with random layers
    up to relu5_2 after the trained ones: :func:`beyond_relu4_1`) or ``N`` (vgg_normalised)."""
    state = {k: v.detach().clone() for k, v in encoder.features.state_dict().items()}
    if encoder.kind != "torchvision":
        return state
    return {**{f"features.{k}": v for k, v in state.items()}, **beyond_relu4_1(encoder, seed)}


def write_world_vgg(
    path: str | Path, decoder_path: str | Path | None = None, steps: int = TRAIN_STEPS, kind: str = world.ENCODER, seed: int = 0
) -> Path:
    """Train the world's VGG-19 and write it to ``path`` (and its decoder to ``decoder_path``)."""
    encoder, decoder = train_world_vgg(steps, kind, seed=seed, log_every=0 if steps < 500 else 250)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(released_state(encoder, seed), path)
    if decoder_path is not None:
        Path(decoder_path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(decoder.state_dict(), decoder_path)
    return path


def write_random_world_vgg(path: str | Path, seed: int = 0) -> Path:
    """Write :func:`random_world_vgg_state` (the untrained world VGG, for comparison)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_world_vgg_state(seed), path)
    return path


@dataclass(frozen=True)
class Realism:
    """relu4_1 MSE to the content of three images of held-out photos, and the decoder's PSNR."""

    reconstruction: float
    flat: float
    shifted: float
    psnr: float

    @property
    def flat_ratio(self) -> float:
        return self.flat / self.reconstruction

    @property
    def shift_ratio(self) -> float:
        return self.shifted / self.reconstruction

    def passes(self) -> bool:
        """The criteria of a VGG that sees layout: flat >= 5x, shifted >= 2x, PSNR >= 22 dB."""
        return self.flat_ratio >= 5 and self.shift_ratio >= 2 and self.psnr >= 22

    def row(self) -> str:
        return (
            f"| {self.reconstruction:.4f} | {self.flat:.4f} ({self.flat_ratio:.1f}x) | "
            f"{self.shifted:.4f} ({self.shift_ratio:.1f}x) | {self.psnr:.1f} dB |"
        )


def shift(images: torch.Tensor, pixels: int = 8) -> torch.Tensor:
    """``images`` moved right and down by ``pixels``, the uncovered edge repeating the first row/column."""
    padded = F.pad(images, (pixels, 0, pixels, 0), mode="replicate")
    return padded[..., : images.shape[-2], : images.shape[-1]]


@torch.no_grad()
def realism(
    vgg_weights: str | Path, decoder: nn.Module, kind: str = world.ENCODER, count: int = 12, size: int = 64, seed: int = 1234
) -> Realism:
    """What the content loss of the encoder in ``vgg_weights`` (loaded as the product loads it) sees on held-out photos."""
    from clipstyler_fast.nets.vgg import load_vgg_encoder

    encoder = load_vgg_encoder(str(vgg_weights), kind)
    images = world.photos(count, size, torch.Generator().manual_seed(seed))
    target = encoder(images)
    reconstruction = decoder(target).clamp(0, 1)
    flat = images.mean(dim=(2, 3), keepdim=True).expand_as(images)

    def cost(candidate: torch.Tensor) -> float:
        return float(F.mse_loss(encoder(candidate), target))

    psnr = float(-10 * torch.log10(F.mse_loss(reconstruction, images)))
    return Realism(cost(reconstruction), cost(flat), cost(shift(images)), psnr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True, help="the VGG-19 weights file to write")
    parser.add_argument("--decoder", type=Path, default=None, help="also write the decoder trained beside it (a start decoder)")
    parser.add_argument("--layout", choices=("torchvision", "adain"), default=world.ENCODER)
    parser.add_argument("--steps", type=int, default=TRAIN_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random", action="store_true", help="write the untrained, rescaled random VGG-19 instead")
    args = parser.parse_args(argv)
    if args.random:
        print(f"wrote {write_random_world_vgg(args.output, args.seed)}")
        return 0
    decoder_path = args.decoder or args.output.with_name(args.output.stem + "-decoder.pt")
    write_world_vgg(args.output, decoder_path, args.steps, args.layout, args.seed)
    from clipstyler_fast.nets.decoder import build_decoder

    decoder = build_decoder()
    decoder.load_state_dict(torch.load(decoder_path, weights_only=True))
    measured = realism(args.output, decoder.eval(), args.layout)
    print(f"wrote {args.output} and {decoder_path}")
    print("| reconstruction | flat (x reconstruction) | shifted 8 px (x) | decoder PSNR |")
    print(measured.row())
    print(json_line(measured))
    return 0


def json_line(measured: Realism) -> str:
    import json

    return json.dumps({**asdict(measured), "flat_ratio": measured.flat_ratio, "shift_ratio": measured.shift_ratio})


if __name__ == "__main__":
    sys.exit(main())
