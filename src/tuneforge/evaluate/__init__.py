"""Before/after evaluation: generation, task metrics and the report."""
