"""IPR: iterative step-level process refinement for LLM agents (library; no Snakemake imports)."""

import os

# Models and tokenizers are local directories (built offline or linked): never reach for a hub.
# Set before anything imports huggingface_hub, which reads it once at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
