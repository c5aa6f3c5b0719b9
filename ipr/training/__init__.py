"""Training: tiny-model builder, assistant-only masking/collation, SFT, and the IPR mixed-loss trainer.

Heavy imports (torch, transformers) happen inside the submodules, so ``import ipr.training`` is cheap.
"""
