"""clipstyler-fast: text-driven fast style transfer.

``from clipstyler_fast import Stylizer`` is the Python API for stylizing; it is imported on first
use, so that importing the package (or printing the command's help) does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clipstyler_fast.infer.stylizer import Stylizer

__version__ = "0.1.0"
__all__ = ["Stylizer", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Stylizer":
        from clipstyler_fast.infer.stylizer import Stylizer

        return Stylizer
    raise AttributeError(f"module 'clipstyler_fast' has no attribute {name!r}")
