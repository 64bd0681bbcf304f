"""The ``clipstyler-fast`` command line. It sits on top: it imports every layer, nothing imports it."""
