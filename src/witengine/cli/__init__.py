"""The `wit` command."""
