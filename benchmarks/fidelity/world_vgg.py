"""The world's VGG-19: seeded random weights, each layer scaled to the activation scale of a pretrained one.

The reference recipe weighs its content loss for a pretrained VGG-19, whose relu4_1 activations
are of order one. Freshly initialised weights are not: with PyTorch's default initialisation
every convolution shrinks the signal while its bias does not, so relu4_1 is a nearly constant
0.005 that carries almost none of the photo. The content term then weighs nothing against the
CLIP terms, and every run, whatever its prompt, paints a flat image: a colour can show, a
texture or the photo's layout cannot.

So each convolution here is rescaled, in order, until its output on world photos has unit
standard deviation, with zero biases (the data-dependent start of LSUV, Mishkin & Matas 2016).
The weights stay random, the layout is torchvision's (``features.N`` keys, as downloaded), and the
file loads through ``--model.encoder torchvision`` like the real one.

    python benchmarks/fidelity/world_vgg.py --output vgg19-world.pth
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.fidelity import world  # noqa: E402

# torchvision's VGG-19 ``features`` up to and including relu4_1: what the product loads.
RELU4_1 = 21


@torch.no_grad()
def world_vgg_state(seed: int = 0, photos: int = 32, size: int = 64) -> dict[str, torch.Tensor]:
    """The scaled random VGG-19 (up to relu4_1) as a torchvision ``features.N`` state dict."""
    from torchvision.models import vgg19

    from clipstyler_fast.nets.vgg import ImageNetNormalize

    torch.manual_seed(seed)
    features = vgg19().features[:RELU4_1]
    signal = ImageNetNormalize()(world.photos(photos, size, torch.Generator().manual_seed(seed + 5)))
    for layer in features:
        if isinstance(layer, torch.nn.Conv2d):
            layer.bias.zero_()
            layer.weight.div_(layer(signal).std())
        signal = layer(signal)
    return {f"features.{k}": v for k, v in features.state_dict().items()}


def write_world_vgg(path: str | Path, seed: int = 0) -> Path:
    """Write :func:`world_vgg_state` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(world_vgg_state(seed), path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"wrote {write_world_vgg(args.output, args.seed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
