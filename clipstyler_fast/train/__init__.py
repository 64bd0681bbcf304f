"""From a prompt and photos to a style file: the Lightning modules, the content data, the
checkpoint callback, previews and clean stopping."""
