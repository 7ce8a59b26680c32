"""Command-line programs: ``python -m train.<program> --help``."""
