"""What ships inside the archive: conda-unpack, activate, and self-relocation."""
