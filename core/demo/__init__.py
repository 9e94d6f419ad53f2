"""The demo environment and the ELF writer that makes its binaries."""
