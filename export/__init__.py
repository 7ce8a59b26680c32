"""Command-line programs that export trained perturbers."""
