"""ipr.training.launch: the torchrun / srun + torchrun commands built from a Slurm job's environment."""

import pytest

from ipr.training.launch import command, gpus_on_node


def test_gpus_from_the_allocation():
    assert gpus_on_node({"CUDA_VISIBLE_DEVICES": "0,1,2,3", "SLURM_GPUS_ON_NODE": "8"}) == 4
    assert gpus_on_node({"SLURM_GPUS_ON_NODE": "2"}) == 2
    assert gpus_on_node({"CUDA_VISIBLE_DEVICES": ""}) == 0
    assert gpus_on_node({}) == 0


def test_one_node_runs_torchrun_over_all_its_gpus():
    env = {"SLURM_JOB_ID": "7", "SLURM_JOB_NUM_NODES": "1", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    assert command(["scripts/train_mixed.py", "--out", "x"], env, python="py") == [
        "py", "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4", "scripts/train_mixed.py",
        "--out", "x"]
    # Outside Slurm and without GPUs: one process, no launcher; or as many CPU processes as asked.
    assert command(["t.py", "-v"], {}, python="py") == ["py", "t.py", "-v"]
    assert command(["t.py"], {}, nproc=2, python="py")[3:5] == ["--standalone", "--nproc_per_node=2"]


def test_several_nodes_meet_at_a_rendezvous_on_the_first_node():
    env = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NUM_NODES": "3", "SLURM_JOB_NODELIST": "gpu[07-08],gpu11",
           "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}
    cmd = command(["t.py"], env)
    assert cmd[:5] == ["srun", "--nodes=3", "--ntasks=3", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    torchrun = cmd[cmd.index("torch.distributed.run"):]
    assert "--nnodes=3" in torchrun and "--nproc_per_node=8" in torchrun and "--rdzv_id=4242" in torchrun
    endpoint = next(a for a in torchrun if a.startswith("--rdzv_endpoint="))
    host, port = endpoint.split("=", 1)[1].split(":")
    assert host == "gpu07" and 20000 <= int(port) <= 60000
    assert command(["t.py"], env) == cmd  # every node computes the same endpoint
    assert "--rdzv_endpoint=gpu07:29500" in command(["t.py"], {**env, "MASTER_PORT": "29500"})


def test_nothing_to_launch():
    with pytest.raises(ValueError):
        command([], {})
