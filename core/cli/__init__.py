"""The conda-package command line: argparse, rich output and progress bars (a face, like tui/)."""
