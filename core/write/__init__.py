"""The packer: scheduling, workers that read, restore and verify, and the generated files."""
