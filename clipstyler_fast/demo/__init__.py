"""The ``clipstyler-fast demo`` web page: upload photos, pick a style, compare and download."""
