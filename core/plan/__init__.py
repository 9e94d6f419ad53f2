"""The pack plan and the pack options, validated once for the CLI and the TUI."""
