"""Conda packages built from the files no package owns."""
