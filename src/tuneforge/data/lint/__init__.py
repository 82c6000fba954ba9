"""The data linter behind ``tuneforge check``: ``checker`` runs the checks of a file read as a
record kind, ``rules`` holds the individual warnings, ``render`` prints a report."""
