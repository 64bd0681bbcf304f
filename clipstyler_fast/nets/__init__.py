"""The networks: the frozen VGG-19 encoders and CLIP, the trained decoder, where their weights
come from, and the style file that records a trained decoder. Imports only ``io``."""
