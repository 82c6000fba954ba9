"""tuneforge: fine-tune open LLMs with SFT, DPO, ORPO and KTO, and prove it helped."""

__version__ = "0.1.0"
