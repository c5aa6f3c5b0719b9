"""IPR: iterative step-level process refinement for LLM agents (library; no Snakemake imports)."""

import os

# Models and tokenizers are local directories (built offline or linked): never reach for a hub.
# Set before anything imports huggingface_hub, which reads it once at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _pin_cpu_code_paths() -> None:
    """CPU results depend on the instruction set the kernels use: ATen picks its vectorised kernels
    (the random weight init included) by the CPU's best ISA, MKL and oneDNN pick their code paths by
    CPU model. On an x86 CPU with AVX2, pin all three to AVX2, so an AVX-512 machine computes the
    same bits as an AVX2 one (on AVX2 machines, as the project's 2-core reference, nothing changes;
    docs/reproducibility.md). Set before torch loads; a value already in the environment wins."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:  # not Linux: leave the libraries their own choice
        return
    if "avx2" in flags:
        for name, value in (("ATEN_CPU_CAPABILITY", "avx2"), ("MKL_CBWR", "AVX2"), ("ONEDNN_MAX_CPU_ISA", "AVX2")):
            os.environ.setdefault(name, value)


_pin_cpu_code_paths()

__version__ = "0.1.0"
