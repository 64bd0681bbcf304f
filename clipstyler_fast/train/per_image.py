"""Per-image optimisation (CLIPstyler's own mode): a network optimised for one photo and one prompt.

:class:`PerImageOptimizer` holds what every image shares (the frozen CLIP and VGG, the prompt's
text direction, the recipe) and :meth:`PerImageOptimizer.optimize` runs the published loop for
one photo: Adam, a step decay stepped before each optimiser step (as the published loop does,
so its first decay falls on iteration 99), ``steps + 1`` iterations; the output of the last
iteration is the result. The network is a fresh :class:`~clipstyler_fast.nets.unet.UNet`, or a
trained style of the fast mode (``init_from``): its decoder (or student) is optimised, its
encoder stays frozen.

Lightning Fabric places the networks and runs the precision; a photo costs one small
optimisation, so nothing heavier (no Trainer, no checkpoint) is made per image.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from lightning.fabric import Fabric
from torch import nn

from clipstyler_fast.nets.clip_model import ClipEncoder
from clipstyler_fast.nets.decoder import EncoderDecoder
from clipstyler_fast.nets.unet import UNet, UNetConfig
from clipstyler_fast.nets.vgg import ContentLayers
from clipstyler_fast.objective.per_image import PerImageWeights, per_image_terms
from clipstyler_fast.train.steps import adam

StepCallback = Callable[[int, dict[str, float], torch.Tensor], None]


@dataclass(frozen=True)
class PerImageSchedule:
    """Optimiser and schedule of the per-image loop (published values)."""

    steps: int = 200
    lr: float = 5e-4
    lr_step: int = 100
    lr_gamma: float = 0.5


def trainable(start: nn.Module | None, unet: UNetConfig) -> nn.Module:
    """A fresh U-Net, or a copy of a trained style network with all but its encoder trainable."""
    if start is None:
        return UNet(unet)
    network = copy.deepcopy(start).train().requires_grad_(True)
    if isinstance(network, EncoderDecoder):
        network.encoder.eval().requires_grad_(False)
    return network


class PerImageOptimizer:
    """Optimises one network per photo under the per-image objective (see the module docstring)."""

    def __init__(
        self,
        fabric: Fabric,
        clip: ClipEncoder,
        layers: ContentLayers,
        direction: torch.Tensor,
        weights: PerImageWeights | None = None,
        schedule: PerImageSchedule | None = None,
        start: nn.Module | None = None,
        unet: UNetConfig | None = None,
    ) -> None:
        self.fabric = fabric
        self.clip = fabric.to_device(clip.eval().requires_grad_(False))
        self.layers = fabric.to_device(layers.eval().requires_grad_(False))
        self.direction = fabric.to_device(direction)
        self.weights = weights or PerImageWeights()
        self.schedule = schedule or PerImageSchedule()
        self.start, self.unet = start, unet or UNetConfig()

    def optimize(self, content: torch.Tensor, seed: int, on_step: StepCallback | None = None) -> torch.Tensor:
        """The stylized ``(1, 3, H, W)`` photo (sides multiples of 8), unclamped, on the CPU.

        ``seed`` fixes the network's start and the random crops and warps; ``on_step(step, terms,
        output)`` is called after every iteration (``terms`` holds the losses and the ``lr``).
        """
        run = self.begin(content, seed)
        output = content
        for step in range(self.schedule.steps + 1):
            terms, output = run.step()
            if on_step is not None:
                on_step(step, terms, output)
        return output.float().cpu()

    def begin(self, content: torch.Tensor, seed: int) -> PhotoRun:
        """A fresh network for ``content`` (``(1, 3, H, W)``), ready to take optimisation steps."""
        torch.manual_seed(seed)
        # On its device before the optimiser is made, which picks its kernel by the weights' device.
        network = trainable(self.start, self.unet).to(self.fabric.device)
        optimizer = adam([p for p in network.parameters() if p.requires_grad], self.schedule.lr)
        network, optimizer = self.fabric.setup(network, optimizer)
        content = self.fabric.to_device(content)
        with torch.no_grad(), self.fabric.autocast():
            content_layers = tuple(t.float() for t in self.layers(content))
            source = self.clip.encode_image(content).float()
        return PhotoRun(self, network, optimizer, content, content_layers, source, torch.Generator().manual_seed(seed))


@dataclass
class PhotoRun:
    """One photo's optimisation in progress: :meth:`step` runs one iteration of the published loop."""

    owner: PerImageOptimizer
    network: nn.Module
    optimizer: torch.optim.Optimizer
    content: torch.Tensor
    content_layers: tuple[torch.Tensor, ...]
    source: torch.Tensor
    generator: torch.Generator

    def __post_init__(self) -> None:
        schedule = self.owner.schedule
        self.decay = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=schedule.lr_step, gamma=schedule.lr_gamma)

    def step(self) -> tuple[dict[str, float], torch.Tensor]:
        """Decay, forward, the objective, backward, Adam: returns the terms (and ``lr``) and the output."""
        owner = self.owner
        with warnings.catch_warnings():
            # The published loop steps its scheduler before the optimiser; PyTorch warns about that
            # order, which is the recipe here, not a mistake.
            warnings.filterwarnings("ignore", message=".*lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`.*")
            self.decay.step()
        with owner.fabric.autocast():
            output = self.network(self.content)
            terms = per_image_terms(
                output,
                self.content_layers,
                owner.layers,
                owner.clip.encode_image,
                self.source,
                owner.direction,
                owner.weights,
                owner.clip.input_resolution,
                self.generator,
            )
        self.optimizer.zero_grad(set_to_none=True)
        owner.fabric.backward(terms["total"])
        self.optimizer.step()
        # One device-to-host copy for all the terms, not one per term (a sync each on a GPU).
        values = dict(zip(terms, torch.stack([v.detach().float() for v in terms.values()]).tolist(), strict=True))
        values["lr"] = float(self.optimizer.param_groups[0]["lr"])
        return values, output.detach()
