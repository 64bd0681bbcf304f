"""The pieces of ``clipstyler-fast predict``: its data module, Lightning module and image writer."""
