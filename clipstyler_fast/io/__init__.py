"""Files: atomic writes, safe checkpoint loading, images in and out. Imports no other layer."""
