"""`python -m cvmigrate` runs the CLI."""

from cvmigrate.cli import main

main()
