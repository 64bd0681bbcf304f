"""The per-image mode equals the published ``train_CLIPstyler.py`` / ``StyleNet.py``, term by term.

Each claim is checked against an independent computation written the way the published code
computes it (its module loop with in-place ReLUs, torchvision's crop, perspective and resize,
the plain formulas), on small inputs with the same random crops and warps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torchvision.models.vgg import cfgs, make_layers

from clipstyler_fast.nets.unet import UNet, UNetConfig
from clipstyler_fast.nets.vgg import ContentLayers
from clipstyler_fast.objective.per_image import PerImageWeights, content_term, patch_views, per_image_terms
from clipstyler_fast.objective.views import random_crops, sample_corners

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def published_unet(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """StyleNet.UNet's forward, written with functional ops from its state dict."""

    def conv(name: str, h: torch.Tensor, stride: int = 1, padding: int = 0) -> torch.Tensor:
        return F.conv2d(h, state[f"{name}.weight"], state[f"{name}.bias"], stride, padding)

    def double(name: str, h: torch.Tensor) -> torch.Tensor:
        h = F.relu(F.instance_norm(conv(f"{name}.conv.0", h, padding=1)))
        return F.relu(F.instance_norm(conv(f"{name}.conv.3", h, padding=1)))

    def encoding(name: str, h: torch.Tensor) -> torch.Tensor:
        return double(name, h) + conv(f"{name}.skip", h)

    def down(name: str, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        temp = encoding(name, h)
        return conv(f"{name}.downsample", temp, stride=2, padding=1), temp

    def up(name: str, h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        joined = torch.cat([F.interpolate(h, scale_factor=2, mode="bilinear"), skip], dim=1)
        return double(name, joined) + conv(f"{name}.skip", joined)

    x = encoding("init", conv("conv_init", x))
    d1, f1 = down("down1", x)
    d2, f2 = down("down2", d1)
    d3, f3 = down("down3", d2)
    h = up("up1", up("up2", up("up3", encoding("encoding", d3), f3), f2), f1)
    return torch.sigmoid(conv("conv_fin", encoding("out", torch.cat([h, x], dim=1))))


def test_unet_is_the_published_stylenet_and_shares_its_parameter_names() -> None:
    torch.manual_seed(0)
    net = UNet(UNetConfig(ngf=16))
    x = torch.rand(2, 3, 32, 40)
    state = net.state_dict()
    assert {"conv_init.weight", "down1.downsample.weight", "up3.skip.weight", "out.conv.3.bias", "conv_fin.weight"} <= set(state)
    torch.testing.assert_close(net(x), published_unet(state, x), atol=1e-5, rtol=1e-5)
    assert net(x).shape == x.shape and 0 < float(net(x).min()) and float(net(x).max()) < 1


def published_get_features(image: torch.Tensor, model: torch.nn.Sequential) -> dict[str, torch.Tensor]:
    """utils.get_features: every module in turn, keeping the outputs of modules 21 and 31."""
    layers = {"21": "conv4_2", "31": "conv5_2"}
    features, x = {}, image
    for name, layer in model._modules.items():
        x = layer(x)
        if name in layers:
            features[layers[name]] = x
    return features


def test_content_term_compares_what_the_published_code_compares_relu4_2_and_relu5_2() -> None:
    torch.manual_seed(0)
    full = make_layers(cfgs["E"])  # in-place ReLUs, as torchvision's vgg19().features
    ours = ContentLayers(make_layers(cfgs["E"])[:32])
    ours.features.load_state_dict(full[:32].state_dict())
    content, output = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        c = published_get_features((content - MEAN) / STD, full)
        t = published_get_features((output - MEAN) / STD, full)
        expected = torch.mean((t["conv4_2"] - c["conv4_2"]) ** 2) + torch.mean((t["conv5_2"] - c["conv5_2"]) ** 2)
        got = content_term(ours(output), ours(content))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    # What those tensors hold after the in-place ReLUs: rectified, not the convolutions' outputs.
    assert float(c["conv4_2"].min()) >= 0 and float(c["conv5_2"].min()) >= 0


class LinearClip:
    """A stand-in image encoder with CLIP's interface: resize to 224 (bicubic), then a fixed projection."""

    def __init__(self) -> None:
        self.projection = torch.randn(3 * 8 * 8, 6, generator=torch.Generator().manual_seed(5))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = F.interpolate(images, size=(224, 224), mode="bicubic", align_corners=False)
        return F.adaptive_avg_pool2d(images, 8).flatten(1) @ self.projection


def test_patch_views_are_the_published_crop_perspective_and_resize() -> None:
    output = torch.rand(1, 3, 48, 40)
    views = patch_views(output, 5, 24, 0.5, 56, torch.Generator().manual_seed(3))
    # Replay the same draws: crop positions, then corners.
    gen = torch.Generator().manual_seed(3)
    tops = torch.randint(0, 48 - 24 + 1, (5,), generator=gen)
    lefts = torch.randint(0, 40 - 24 + 1, (5,), generator=gen)
    corners = sample_corners(5, 24, 24, 0.5, gen)
    start = [[0, 0], [23, 0], [23, 23], [0, 23]]
    for n in range(5):
        crop = TF.crop(output, int(tops[n]), int(lefts[n]), 24, 24)
        warped = TF.perspective(crop, start, corners[n].tolist(), fill=0)
        expected = TF.resize(warped, [56, 56])
        torch.testing.assert_close(views[n : n + 1], expected, atol=1e-5, rtol=1e-5)
    assert random_crops(output, 5, 24, torch.Generator().manual_seed(3)).shape == (5, 3, 24, 24)


def test_every_term_and_the_total_follow_the_published_formulas() -> None:
    torch.manual_seed(0)
    clip = LinearClip()
    layers = ContentLayers(make_layers(cfgs["E"])[:32])
    content, output = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    direction = F.normalize(torch.randn(6), dim=0)
    weights = PerImageWeights(num_patches=6, patch_size=32, threshold=0.7)
    with torch.no_grad():
        terms = per_image_terms(
            output, layers(content), layers, clip, clip(content), direction, weights, 224, torch.Generator().manual_seed(1)
        )
        # The published loop, from the same views.
        views = patch_views(output, 6, 32, 0.5, 224, torch.Generator().manual_seed(1))
        source = clip(content)
        source = source / source.norm(dim=-1, keepdim=True)
        features = clip(views)
        features = features / features.norm(dim=-1, keepdim=True)
        img_direction = features - source
        img_direction = img_direction / img_direction.norm(dim=-1, keepdim=True)
        text = direction.repeat(6, 1)
        loss_temp = 1 - torch.cosine_similarity(img_direction, text, dim=1)
        loss_temp[loss_temp < 0.7] = 0
        patch = loss_temp.mean()
        glob = clip(output)
        glob = glob / glob.norm(dim=-1, keepdim=True)
        glob_direction = (glob - source) / (glob - source).norm(dim=-1, keepdim=True)
        dir_loss = (1 - torch.cosine_similarity(glob_direction, direction[None], dim=1)).mean()
        d = output
        tv = (
            torch.norm(d[:, :, :, :-1] - d[:, :, :, 1:])
            + torch.norm(d[:, :, :-1, :] - d[:, :, 1:, :])
            + torch.norm(d[:, :, 1:, :-1] - d[:, :, :-1, 1:])
            + torch.norm(d[:, :, :-1, :-1] - d[:, :, 1:, 1:])
        )
        content_loss = content_term(layers(output), layers(content))
    torch.testing.assert_close(terms["patch"], patch, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(terms["dir"], dir_loss, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(terms["tv"], tv, atol=1e-5, rtol=1e-5)
    total = 9000 * patch + 150 * content_loss + 2e-3 * tv + 500 * dir_loss
    torch.testing.assert_close(terms["total"], total, atol=1e-3, rtol=1e-5)
    assert float(patch) > 0 and bool((loss_temp == 0).any() or (loss_temp >= 0.7).all())
