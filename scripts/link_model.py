"""Make an existing model directory (e.g. Llama-2-7b-hf on the cluster) a pipeline artifact by symlink."""

import os
from pathlib import Path

from ipr.cli import require_model_dir, run


def main():
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--path", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    source = require_model_dir(args.path).resolve()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.link")
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(source, tmp, target_is_directory=True)
    os.replace(tmp, args.out)
    print(f"{args.model}: {args.out} -> {source}")


if __name__ == "__main__":
    run(main)
