"""Values the library and the command line share, spelled once.

The bottom of the package, importing nothing: the command line reads these without loading
torch, so that ``clipstyler-fast COMMAND --help`` and the option checks start at once.
"""

from __future__ import annotations

# How a stylized image is finished: clamped to [0, 1], the reference's contrast boost with
# per-image min-max scaling, or the raw network output.
POSTPROCESS = ("clamp", "contrast", "none")

# The blends a strip shows when none are given.
DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)

# The CLIP model of the reference recipe.
DEFAULT_CLIP = "ViT-B/32"
