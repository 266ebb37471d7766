"""`python -m gaxla ...` is the same as the `gaxla` command."""

from gaxla.cli import main

main()
