"""Where conda environments are: conda's config search path, .condarc, and the user's paths."""
