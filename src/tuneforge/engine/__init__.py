"""The one training loop and what it owns: checkpoints, logging, the run directory."""
