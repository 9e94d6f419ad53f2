"""Output formats: one module per format, the codecs, and the ordered compression pipeline."""
