"""An independent judge of the world's styles: pixel statistics only, never CLIP.

A CLIP-guided decoder can please the CLIP that trained it without making the style (a band of
texture at the border, a blank page). This judge measures each style by what it is in pixels:

- ``red`` / ``blue``: mean chromaticity ``R / (R + G + B)`` / ``B / (R + G + B)``.
- the other tints (``green``, ``yellow``, ...): the mean chromaticity's offset from grey
  projected on the tint's own offset from grey, minus the part off that direction (how far
  the colour moved toward that hue, and not toward a neighbouring one).
- ``stripes``: the share of the luminance spectrum's energy (DC removed) that lies in the
  stripe band (periods 3.5-20 px, wide enough for stripes seen zoomed by the training views)
  within the single strongest orientation sector: parallel stripes put it all in one sector.
- ``dots``: the same band energy, but the weaker of two orthogonal sectors (maximised over
  orientations): a dot lattice fills both, stripes only one.
- ``sketch``: whiteness off the content's edges minus luminance on them, minus saturation:
  dark lines where the content has edges, on white, grey.

Each statistic is also measured on the central half of the image (``@centre``): a texture made
only along the border moves the whole-image number but not the centre's.

Whether the photo survives is judged apart from the style: ``edges`` is the product's own
edge-keeping score (the correlation of blurred edge magnitudes, ``evaluate``'s ``edge_keeping``),
which a flat image or a texture laid anywhere else cannot pass (SSIM can: a uniform image still
scores about 0.5 against these smooth photos). Two flags name the collapses seen in this world:
``flat`` (most outputs near-uniform) and ``border`` (most outputs' edge energy in the outer 10%).

Shifts are reported in units of the content photos' spread: ``(mean(stat(out)) - mean(stat(ref))) /
std(stat(content))``, against the content, against the start decoder's output ``D0(E(x))``
and against the other prompts' outputs.
"""

from __future__ import annotations

import math

import torch

from benchmarks.fidelity import world

STATISTICS: tuple[str, ...] = tuple(world.STYLES)
BAND = (1 / 20, 1 / 3.5)  # cycles per pixel
SECTORS = 8


def chromaticity(images: torch.Tensor) -> torch.Tensor:
    """``(N, 3)`` mean chromaticity (each channel's share of R + G + B) per image."""
    total = images.sum(1, keepdim=True).clamp_min(0.05)
    return (images / total).mean((2, 3))


def hue_projection(chroma: torch.Tensor, colour: tuple[float, float, float]) -> torch.Tensor:
    """``(N,)``: chromaticity ``(N, 3)`` minus grey, projected on the unit offset of ``colour`` from
    grey, minus what lies off that direction (so that a neighbouring hue scores low)."""
    target = torch.tensor(colour) / sum(colour) - 1 / 3
    unit = target / target.norm()
    offset = chroma - 1 / 3
    along = offset @ unit
    return along - (offset - along[:, None] * unit).norm(dim=1)


def _sector_band_energy(images: torch.Tensor) -> torch.Tensor:
    """``(N, SECTORS)``: fraction of the non-DC luminance energy in the band, per orientation sector."""
    lum = world.luminance(images)[:, 0]
    n, height, width = lum.shape
    window = torch.hann_window(height, periodic=False).view(-1, 1) * torch.hann_window(width, periodic=False).view(1, -1)
    centred = (lum - lum.mean((1, 2), keepdim=True)) * window
    power = torch.fft.fft2(centred).abs().pow(2)
    fy = torch.fft.fftfreq(height).view(-1, 1).expand(height, width)
    fx = torch.fft.fftfreq(width).view(1, -1).expand(height, width)
    radius = (fx**2 + fy**2).sqrt()
    angle = torch.remainder(torch.atan2(fy, fx), math.pi)  # orientation, 0..pi
    sector = (angle / (math.pi / SECTORS)).long().clamp(max=SECTORS - 1)
    in_band = (radius >= BAND[0]) & (radius <= BAND[1])
    total = power.flatten(1).sum(1).clamp_min(1e-8)
    out = torch.stack([(power * (in_band & (sector == s))).flatten(1).sum(1) for s in range(SECTORS)], dim=1)
    return out / total.view(-1, 1)


def stripe_energy(images: torch.Tensor) -> torch.Tensor:
    return _sector_band_energy(images).amax(1)


def dot_energy(images: torch.Tensor) -> torch.Tensor:
    sectors = _sector_band_energy(images)
    orthogonal = sectors.roll(-SECTORS // 2, dims=1)
    return torch.minimum(sectors, orthogonal).amax(1)


def sketch_score(images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Whiteness off the content's edges minus luminance on them, minus saturation."""
    edges = world.edge_map(content) > 0.35
    lum = world.luminance(images)
    on = (lum * edges).flatten(1).sum(1) / edges.flatten(1).sum(1).clamp_min(1)
    off = (lum * ~edges).flatten(1).sum(1) / (~edges).flatten(1).sum(1).clamp_min(1)
    saturation = (images.amax(1) - images.amin(1)).flatten(1).mean(1)
    return off - on - saturation


def statistics(images: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every statistic, per image ``(N,)``, of images in [0, 1] stylized from ``content``.

    Keys are the style names and ``<style>@centre`` for the central half of each image.
    """
    images = images.float().clamp(0, 1)
    content = content.float().clamp(0, 1)
    out: dict[str, torch.Tensor] = {}
    height, width = images.shape[-2:]
    centre = (slice(None), slice(None), slice(height // 4, height - height // 4), slice(width // 4, width - width // 4))
    for suffix, (imgs, cont) in {"": (images, content), "@centre": (images[centre], content[centre])}.items():
        chroma = chromaticity(imgs)
        out["red" + suffix] = chroma[:, 0]
        out["blue" + suffix] = chroma[:, 2]
        for name, colour in world.TINTS.items():
            if name not in ("red", "blue"):
                out[name + suffix] = hue_projection(chroma, colour)
        out["stripes" + suffix] = stripe_energy(imgs)
        out["dots" + suffix] = dot_energy(imgs)
        out["sketch" + suffix] = sketch_score(imgs, cont)
    return out


def content_ssim(images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM ``(N,)`` to the content (torchmetrics), the structure kept."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    return structural_similarity_index_measure(
        images.float().clamp(0, 1), content.float().clamp(0, 1), data_range=1.0, reduction="none"
    ).reshape(-1)


# An output is near-uniform when no channel's pixels spread by more than this.
FLAT_SPREAD = 0.03
# The outer 10% of each side is 36% of the area; a border texture puts twice that share of the
# image's edge energy there.
BORDER_FRACTION, BORDER_SHARE = 0.1, 0.72


def edges(images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Per-image edge keeping ``(N,)`` against the content (``clipstyler_fast.eval.metrics.edge_keeping``)."""
    from clipstyler_fast.eval.metrics import edge_keeping

    return edge_keeping(images.float().clamp(0, 1), content.float().clamp(0, 1))


def near_uniform(images: torch.Tensor) -> torch.Tensor:
    """Per image ``(N,)``: whether every channel's pixels lie within :data:`FLAT_SPREAD` (one standard deviation)."""
    return images.float().clamp(0, 1).flatten(2).std(2).amax(1) < FLAT_SPREAD


def border_share(images: torch.Tensor) -> torch.Tensor:
    """Per image ``(N,)``: the share of its (unblurred) edge energy in the outer :data:`BORDER_FRACTION` of each side."""
    from clipstyler_fast.eval.metrics import edge_magnitude

    energy = edge_magnitude(images.float().clamp(0, 1), sigma=0).square()
    height, width = energy.shape[-2:]
    top, left = max(1, round(BORDER_FRACTION * height)), max(1, round(BORDER_FRACTION * width))
    inner = energy[:, top : height - top, left : width - left].flatten(1).sum(1)
    total = energy.flatten(1).sum(1)
    return torch.where(total > 1e-12, 1 - inner / total.clamp_min(1e-12), torch.zeros_like(total))


def collapse_flags(images: torch.Tensor) -> dict[str, bool]:
    """``flat``: most outputs near-uniform; ``border``: most outputs' edge energy at the border."""
    return {
        "flat": bool(near_uniform(images).float().mean() > 0.5),
        "border": bool((border_share(images) > BORDER_SHARE).float().mean() > 0.5),
    }


def flag_words(row: dict[str, float]) -> str:
    """A table cell naming a row's collapse flags: ``FLAT``, ``BORDER``, both, or ``none``."""
    return " ".join(word for word in ("flat", "border") if row[word]).upper() or "none"


def shifts(outputs: dict[str, torch.Tensor], content: torch.Tensor, baseline: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per prompt (key of ``outputs``), the shift of its own style's statistic, in content spreads.

    Returns, for each prompt ``p`` whose name is a style: ``vs_content``, ``vs_decoder`` (the
    start decoder's output), ``vs_others`` (against the highest mean among the other prompts'
    outputs: positive means this prompt's outputs have more of its style than any other
    prompt's), the same three on the image centre (``centre_*``), the fraction of images whose
    statistic rose above the content's by one spread (``moved``), ``ssim``, ``edges`` (edge
    keeping) and the ``flat`` and ``border`` flags.
    """
    content_stats = statistics(content, content)
    base_stats = statistics(baseline, content)
    out_stats = {name: statistics(images, content) for name, images in outputs.items()}
    table: dict[str, dict[str, float]] = {}
    for name, stats in out_stats.items():
        style = name.split(":")[0]
        if style not in STATISTICS:
            continue
        row: dict[str, float] = {}
        for prefix, key in (("", style), ("centre_", style + "@centre")):
            spread = float(content_stats[key].std().clamp_min(1e-6))
            mean = float(stats[key].mean())
            others = [float(s[key].mean()) for other, s in out_stats.items() if other != name]
            row[prefix + "vs_content"] = (mean - float(content_stats[key].mean())) / spread
            row[prefix + "vs_decoder"] = (mean - float(base_stats[key].mean())) / spread
            row[prefix + "vs_others"] = (mean - max(others)) / spread if others else float("nan")
        spread = content_stats[style].std().clamp_min(1e-6)
        row["moved"] = float(((stats[style] - content_stats[style]) / spread > 1).float().mean())
        row["ssim"] = float(content_ssim(outputs[name], content).mean())
        row["edges"] = float(edges(outputs[name], content).mean())
        row.update(collapse_flags(outputs[name]))
        table[name] = row
    return table


def matrix(outputs: dict[str, torch.Tensor], content: torch.Tensor, baseline: torch.Tensor) -> dict[str, dict[str, float]]:
    """Every statistic's shift against the start decoder, in content spreads, for every prompt's outputs."""
    content_stats = statistics(content, content)
    base_stats = statistics(baseline, content)
    rows = {}
    for name, images in {"decoder only": baseline, **outputs}.items():
        stats = statistics(images, content)
        rows[name] = {
            key: float((stats[key].mean() - base_stats[key].mean()) / content_stats[key].std().clamp_min(1e-6)) for key in STATISTICS
        }
    return rows


def format_tables(outputs: dict[str, torch.Tensor], content: torch.Tensor, baseline: torch.Tensor) -> str:
    """The judge's two tables as Markdown."""
    table = shifts(outputs, content, baseline)
    lines = [
        "Own style's statistic, shift in content spreads (centre = central half of the image)",
        "",
        "| prompt | vs content | vs decoder only | vs other prompts | centre vs decoder | centre vs others | moved >1 spread "
        "| SSIM to content | edges kept | flags |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, row in table.items():
        lines.append(
            f"| {name} | {row['vs_content']:+.2f} | {row['vs_decoder']:+.2f} | {row['vs_others']:+.2f} | "
            f"{row['centre_vs_decoder']:+.2f} | {row['centre_vs_others']:+.2f} | {row['moved']:.0%} | {row['ssim']:.3f} | "
            f"{row['edges']:.3f} | {flag_words(row)} |"
        )
    lines += [
        "",
        "Every statistic, shift against the decoder-only output, in content spreads",
        "",
        "| outputs of | " + " | ".join(STATISTICS) + " |",
        "| --- |" + " ---: |" * len(STATISTICS),
    ]
    for name, row in matrix(outputs, content, baseline).items():
        lines.append(f"| {name} | " + " | ".join(f"{row[k]:+.2f}" for k in STATISTICS) + " |")
    return "\n".join(lines)
