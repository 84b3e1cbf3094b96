"""Benchmarks behind ``mpgenie bench``: each returns a plain dict that the CLI prints as a table or JSON."""
