"""`python -m pysips` is the `pysips` command."""

from pysips.cli import main

main()
