"""Launch a training script over every GPU of the current Slurm allocation (or of this machine).

    python -m ipr.training.launch [--nproc-per-node N] scripts/train_mixed.py --policy ... --out ...

- One process (a laptop, a CPU job, one GPU): the script runs directly under this interpreter.
- One node (or no Slurm): ``torchrun --standalone --nproc_per_node=<GPUs>`` runs the script once
  per GPU of the allocation. ``--nproc-per-node`` overrides the count (0 = from the allocation):
  on CPU, N processes train data-parallel over gloo.
- Several nodes (``SLURM_JOB_NUM_NODES`` > 1): ``srun`` starts one ``torchrun`` per node, which
  meet at a c10d rendezvous on the first node of the allocation; the node list is parsed with
  submitit's Slurm helper and the port is derived from the job id the way submitit's
  ``TorchDistributedEnvironment`` does, so every node computes the same endpoint.

The commands are built from an environment mapping (``os.environ`` by default), so they can be
checked without Slurm. No Snakemake imports: rules sft and train call this module like any other
script. torchrun is run as ``python -m torch.distributed.run`` of this interpreter, so the workers
use the same environment as the launcher.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Mapping, Sequence

# submitit's TorchDistributedEnvironment picks the rendezvous port in this range from the job id.
MIN_PORT, MAX_PORT = 20000, 60000


def gpus_on_node(env: Mapping[str, str]) -> int:
    """GPUs this node may use: CUDA_VISIBLE_DEVICES (set by Slurm for a GPU allocation), else
    SLURM_GPUS_ON_NODE; 0 if neither is set."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    return int(env.get("SLURM_GPUS_ON_NODE", "0") or 0)


def hostnames(env: Mapping[str, str]) -> list[str]:
    """The allocation's nodes, from SLURM_JOB_NODELIST (compressed Slurm syntax, e.g. gpu[01-04])."""
    from submitit.slurm.slurm import _parse_node_list

    return _parse_node_list(env["SLURM_JOB_NODELIST"])


def rendezvous_port(env: Mapping[str, str]) -> int:
    if env.get("MASTER_PORT"):
        return int(env["MASTER_PORT"])
    return random.Random(env["SLURM_JOB_ID"]).randint(MIN_PORT, MAX_PORT)


def command(script_args: Sequence[str], env: Mapping[str, str] = os.environ, nproc: int = 0,
            python: str = sys.executable) -> list[str]:
    """The command that runs ``python <script_args>`` on every GPU of the allocation (or ``nproc``)."""
    if not script_args:
        raise ValueError("nothing to launch: give the script and its arguments")
    nproc = nproc or max(1, gpus_on_node(env))
    nodes = int(env.get("SLURM_JOB_NUM_NODES", "1") or 1)
    torchrun = [python, "-m", "torch.distributed.run"]
    if nodes <= 1 and nproc == 1:
        return [python, *script_args]
    if nodes <= 1:
        return [*torchrun, "--standalone", f"--nproc_per_node={nproc}", *script_args]
    endpoint = f"{hostnames(env)[0]}:{rendezvous_port(env)}"
    return [
        "srun", f"--nodes={nodes}", f"--ntasks={nodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
        *torchrun, f"--nnodes={nodes}", f"--nproc_per_node={nproc}",
        "--rdzv_backend=c10d", f"--rdzv_endpoint={endpoint}", f"--rdzv_id={env['SLURM_JOB_ID']}",
        *script_args,
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    nproc = 0
    if args[:1] == ["--nproc-per-node"]:
        nproc, args = int(args[1]), args[2:]
    cmd = command(args, nproc=nproc)
    print("launch:", " ".join(cmd), file=sys.stderr, flush=True)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
