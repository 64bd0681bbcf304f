"""From a style file and photos to stylized images: the stylizer, tiling, blending, the predict
module and writer, video and export. Imports ``nets`` and ``io``, never ``train``."""
