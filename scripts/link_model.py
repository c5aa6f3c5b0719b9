"""Make an existing model directory (e.g. Llama-2-7b-hf on the cluster) a pipeline artifact by symlink,
optionally with a configured chat template (the source directory is never written)."""

from pathlib import Path

from ipr.cli import require_model_dir, run
from ipr.training.linked_model import link_model
from ipr.training.templates import load_template


def main():
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--path", type=Path, help="local model directory")
    source.add_argument("--hub-id", help="Hugging Face hub id, fetched into the hub cache first")
    p.add_argument("--chat-template", type=Path, help="chat template (.jinja) to give the model; default: its own")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    if args.hub_id:
        from huggingface_hub import snapshot_download

        args.path = Path(snapshot_download(args.hub_id))
    source = require_model_dir(args.path)
    chat_template = load_template(args.chat_template) if args.chat_template else None
    link_model(args.model, source, args.out, chat_template)
    print(f"{args.model}: {args.out} -> {source.resolve()}" + (f" with {args.chat_template}" if chat_template else ""))


if __name__ == "__main__":
    run(main)
