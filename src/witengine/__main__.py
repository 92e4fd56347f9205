"""`python -m witengine` is the `wit` command."""

from witengine.cli.entry import main

main()
