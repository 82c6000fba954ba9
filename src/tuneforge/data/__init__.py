"""Data: loading files, typed records, the linter, tokenisation."""
