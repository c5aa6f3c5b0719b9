"""IPR: iterative step-level process refinement for LLM agents (library; no Snakemake imports)."""

__version__ = "0.1.0"
