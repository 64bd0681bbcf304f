"""Each loss against a direct, loop-by-loop computation of DESIGN.md's formula on random inputs."""

from __future__ import annotations

import math

import pytest
import torch

from clipstyler_fast.objective import losses
from clipstyler_fast.objective.templates import IMAGENET_TEMPLATES


def _norm(v: list[float]) -> list[float]:
    length = math.sqrt(sum(x * x for x in v))
    return [x / length for x in v]


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def _sub(a: list[float], b: list[float]) -> list[float]:
    return [x - y for x, y in zip(a, b)]


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


def test_content_loss_is_mean_squared_error(gen: torch.Generator) -> None:
    a, b = torch.randn(2, 8, 5, 5, generator=gen), torch.randn(2, 8, 5, 5, generator=gen)
    expected = sum((x - y) ** 2 for x, y in zip(a.flatten().tolist(), b.flatten().tolist())) / a.numel()
    assert losses.content_loss(a, b).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("threshold", [0.0, 0.7, 1.0])
def test_patch_directional_loss_matches_formula(gen: torch.Generator, threshold: float) -> None:
    batch, views, dim = 3, 5, 16
    view_feats = torch.randn(batch, views, dim, generator=gen)
    src_feats = torch.randn(batch, dim, generator=gen)
    direction = torch.tensor(_norm(torch.randn(dim, generator=gen).tolist()))
    terms = []
    for b in range(batch):
        src = _norm(src_feats[b].tolist())
        for n in range(views):
            v = _norm(view_feats[b, n].tolist())
            d = _norm(_sub(v, src))
            loss = 1 - _cos(d, direction.tolist())
            terms.append(0.0 if loss < threshold else loss)
    expected = sum(terms) / len(terms)
    got = losses.patch_directional_loss(view_feats, src_feats, direction, threshold)
    assert got.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_patch_threshold_zeroes_aligned_views() -> None:
    direction = torch.tensor([1.0, 0.0, 0.0])
    src = torch.tensor([[0.0, 1.0, 0.0]])
    aligned = torch.tensor([[[1.0, 1.0, 0.0]]])  # moves along +x from the source: loss < 0.7
    against = torch.tensor([[[-1.0, 1.0, 0.0]]])  # moves along -x: loss above 1.9
    assert losses.patch_directional_loss(aligned, src, direction, 0.7).item() == 0.0
    r = 1 / math.sqrt(2)
    expected = 1 + r / math.hypot(r, 1 - r)
    assert losses.patch_directional_loss(against, src, direction, 0.7).item() == pytest.approx(expected, abs=1e-5)


def test_global_directional_loss_matches_formula(gen: torch.Generator) -> None:
    batch, dim = 4, 12
    out, src = torch.randn(batch, dim, generator=gen), torch.randn(batch, dim, generator=gen)
    direction = torch.tensor(_norm(torch.randn(dim, generator=gen).tolist()))
    expected = sum(1 - _cos(_norm(_sub(_norm(out[b].tolist()), _norm(src[b].tolist()))), direction.tolist()) for b in range(batch)) / batch
    assert losses.global_directional_loss(out, src, direction).item() == pytest.approx(expected, rel=1e-5)


def test_total_variation_is_sum_of_l2_norms(gen: torch.Generator) -> None:
    y = torch.rand(2, 3, 6, 7, generator=gen)
    b_, c_, h, w = y.shape
    sums = [0.0, 0.0, 0.0, 0.0]
    for b in range(b_):
        for c in range(c_):
            for i in range(h):
                for j in range(w):
                    v = y[b, c, i, j].item()
                    if j + 1 < w:
                        sums[0] += (v - y[b, c, i, j + 1].item()) ** 2
                    if i + 1 < h:
                        sums[1] += (v - y[b, c, i + 1, j].item()) ** 2
                    if i + 1 < h and j + 1 < w:
                        sums[2] += (y[b, c, i + 1, j].item() - y[b, c, i, j + 1].item()) ** 2
                        sums[3] += (v - y[b, c, i + 1, j + 1].item()) ** 2
    expected = sum(math.sqrt(s) for s in sums)
    assert losses.total_variation(y).item() == pytest.approx(expected, rel=1e-5)


def test_text_direction_uses_all_templates_and_normalises() -> None:
    table: dict[str, torch.Tensor] = {}
    seen: list[list[str]] = []

    def encode(texts: list[str]) -> torch.Tensor:
        seen.append(texts)
        g = torch.Generator()
        rows = []
        for text in texts:
            if text not in table:
                g.manual_seed(abs(hash(text)) % (2**31))
                table[text] = torch.randn(10, generator=g)
            rows.append(table[text])
        return torch.stack(rows)

    got = losses.text_direction(encode, "Mosaic", "a Photo")
    assert [len(t) for t in seen] == [79, 79]
    assert seen[0][0] == "a bad photo of a Mosaic." and seen[1][0] == "a bad photo of a a Photo."

    def mean_normalised(texts: list[str]) -> list[float]:
        rows = [table[t].tolist() for t in texts]
        return _norm([sum(col) / len(rows) for col in zip(*rows)])

    t = mean_normalised([tpl.format("Mosaic") for tpl in IMAGENET_TEMPLATES])
    s = mean_normalised([tpl.format("a Photo") for tpl in IMAGENET_TEMPLATES])
    expected = _norm(_sub(t, s))
    assert got.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert got.norm().item() == pytest.approx(1.0, abs=1e-6)


def test_losses_backpropagate(gen: torch.Generator) -> None:
    y = torch.rand(1, 3, 8, 8, generator=gen, requires_grad=True)
    feats = torch.randn(1, 4, 7, generator=gen, requires_grad=True)
    direction = torch.tensor(_norm([1.0] * 7))
    total = losses.total_variation(y) + losses.patch_directional_loss(feats, torch.randn(1, 7, generator=gen), direction, 0.0)
    total.backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert feats.grad is not None and feats.grad.abs().sum() > 0
