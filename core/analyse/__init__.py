"""Relocation findings per file: the ELF reader, the rules, and their cache."""
