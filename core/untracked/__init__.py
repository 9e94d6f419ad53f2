"""The files no package owns: removing them safely, with a backup first."""
