#!/usr/bin/env python
"""Train castvoice's Kokoro style encoder: synthesise random voices, embed them, fit, save the weights.

    python scripts/train_style_encoder.py --data work/style-data --count 2000

Data generation is resumable (shards are kept); the weights go to castvoice/voice/style_encoder.npz.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from castvoice.console import ProgressRenderer
from castvoice.progress import reporting
from castvoice.voice.style_encoder import WEIGHTS_FILE, generate, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder for the synthetic samples")
    parser.add_argument("--count", type=int, default=2000, help="random voices to synthesise")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    args = parser.parse_args()
    with reporting(ProgressRenderer()):
        generate(args.data, args.count, args.seed)
    encoder, report = train(args.data)
    encoder.save(args.out)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
