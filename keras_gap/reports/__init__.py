"""Reports: the pictures and Markdown tables the programs write."""
