"""``python -m tuneforge.cli``: the same command line as ``tuneforge``."""

from tuneforge.cli import main

main()
