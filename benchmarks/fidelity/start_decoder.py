"""A start decoder for the world: reconstructs world photos from the (random-weight) VGG's relu4_1.

The reference recipe fine-tunes a decoder that already reconstructs photos; with no pretrained
VGG here, one is trained for whatever VGG-19 weights file is given (the same objective as
``clipstyler-fast pretrain``: relu4_1 content loss plus a pixel loss), on world photos only,
and saved as a plain decoder state dict for ``fit --model.decoder_init FILE``.

    python benchmarks/fidelity/start_decoder.py --vgg vgg.pth --output decoder.pt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.fidelity import world  # noqa: E402


def train_start_decoder(
    vgg_weights: str | Path,
    steps: int = 300,
    batch: int = 8,
    size: int = 48,
    lr: float = 5e-4,
    seed: int = 0,
    log_every: int = 100,
) -> torch.nn.Module:
    """Train the product's decoder to invert the product's encoder on fresh world photos."""
    from clipstyler_fast.nets.decoder import build_decoder
    from clipstyler_fast.nets.vgg import load_vgg_encoder

    torch.manual_seed(seed)
    encoder = load_vgg_encoder(str(vgg_weights), world.ENCODER)
    decoder = build_decoder()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed + 7)
    start = time.time()
    for step in range(steps):
        images = world.photos(batch, size, gen)
        with torch.no_grad():
            target = encoder(images)
        output = decoder(target)
        content = F.mse_loss(encoder(output), target)
        pixel = F.mse_loss(output, images)
        # The feature scale of a random VGG is arbitrary: normalise the content term by the
        # target's energy so that both terms count from the first step.
        loss = content / target.pow(2).mean().detach() + 10 * pixel
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if log_every and (step + 1) % log_every == 0:
            psnr = -10 * torch.log10(F.mse_loss(output.clamp(0, 1), images))
            print(f"decoder step {step + 1}/{steps}: psnr {psnr.item():.1f} dB ({time.time() - start:.0f} s)", flush=True)
    return decoder.eval()


def reconstruction_psnr(decoder: torch.nn.Module, vgg_weights: str | Path, seed: int = 99, size: int = 64) -> float:
    """PSNR (dB) of ``D(E(x))`` on fresh world photos."""
    from clipstyler_fast.nets.vgg import load_vgg_encoder

    encoder = load_vgg_encoder(str(vgg_weights), world.ENCODER)
    images = world.photos(16, size, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        output = decoder(encoder(images)).clamp(0, 1)
    return float(-10 * torch.log10(F.mse_loss(output, images)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vgg", required=True, help="VGG-19 weights file (as for --model.vgg_weights)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args(argv)
    decoder = train_start_decoder(args.vgg, args.steps)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(decoder.state_dict(), args.output)
    print(f"wrote {args.output}; held-out PSNR {reconstruction_psnr(decoder, args.vgg):.1f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
