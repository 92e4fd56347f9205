"""`python -m witengine` is the `wit` command."""

from witengine.cli.app import main

main()
