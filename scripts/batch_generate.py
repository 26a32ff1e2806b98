#!/usr/bin/env python3
"""Batch text-to-motion from a prompts file: the same as `momug batch`, runnable from a checkout.

    python scripts/batch_generate.py prompts.txt -o out/ --checkpoint tiny
    accelerate launch --num_processes 2 scripts/batch_generate.py prompts.jsonl -o out/

See `momug batch --help` for the options.
"""

import sys

from momug.cli import main

if __name__ == "__main__":
    sys.exit(main(["batch", *sys.argv[1:]]))
