"""`python -m slipstream.cli` runs the CLI (used where the console script is not on PATH)."""

from slipstream.cli import main

main()
