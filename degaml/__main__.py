"""`python -m degaml` runs the CLI."""

from degaml.cli import main

main()
