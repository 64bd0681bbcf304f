"""clipstyler-fast: text-driven fast style transfer with CLIPstyler losses and PyTorch Lightning."""

__version__ = "0.1.0"

from .stylizer import Stylizer

__all__ = ["Stylizer", "__version__"]
