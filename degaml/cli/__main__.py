"""`python -m degaml.cli` runs the CLI (as `python -m degaml`; torchrun: `torchrun ... -m degaml.cli generator train`)."""

from degaml.cli import main

main()
