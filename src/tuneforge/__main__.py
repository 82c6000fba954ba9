"""``python -m tuneforge``: the same command line as the ``tuneforge`` script.

So that launchers that run a module (``torchrun -m tuneforge``, ``accelerate launch -m
tuneforge``) start tuneforge's commands.
"""

from tuneforge.cli import main

if __name__ == "__main__":
    main()
