"""Launch a training script over every GPU of the current Slurm allocation (or of this machine).

    python -m ipr.launch scripts/train_mixed.py --policy ... --out ...

- One node (or no Slurm): ``torchrun --standalone --nproc_per_node=<GPUs>`` runs the script once
  per GPU of the allocation.
- Several nodes (``SLURM_JOB_NUM_NODES`` > 1): ``srun`` starts one ``torchrun`` per node, which
  meet at a c10d rendezvous on the first node of the allocation; the node list is parsed with
  submitit's Slurm helper and the port is derived from the job id the way submitit's
  ``TorchDistributedEnvironment`` does, so every node computes the same endpoint.

The commands are built from an environment mapping (``os.environ`` by default), so they can be
checked without Slurm. No Snakemake imports: a rule calls this module like any other script.
Nothing in the workflow uses it yet; the multi-GPU trainer is issue 5.
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


def command(script_args: Sequence[str], env: Mapping[str, str] = os.environ) -> list[str]:
    """The command that runs ``python <script_args>`` on every GPU of the allocation."""
    if not script_args:
        raise ValueError("nothing to launch: give the script and its arguments")
    nproc = max(1, gpus_on_node(env))
    nodes = int(env.get("SLURM_JOB_NUM_NODES", "1") or 1)
    if nodes <= 1:
        return ["torchrun", "--standalone", f"--nproc_per_node={nproc}", *script_args]
    endpoint = f"{hostnames(env)[0]}:{rendezvous_port(env)}"
    return [
        "srun", f"--nodes={nodes}", f"--ntasks={nodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
        "torchrun", f"--nnodes={nodes}", f"--nproc_per_node={nproc}",
        "--rdzv_backend=c10d", f"--rdzv_endpoint={endpoint}", f"--rdzv_id={env['SLURM_JOB_ID']}",
        *script_args,
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    cmd = command(args)
    print("launch:", " ".join(cmd), file=sys.stderr, flush=True)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
