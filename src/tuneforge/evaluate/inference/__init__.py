"""Batched inference: greedy decoding (`generate`) and continuation log-probs (`scoring`),
both from one shared-prefix prefill per batch."""
