"""Regenerate the committed corpus of small int8 .tflite fixtures (seeded, deterministic topology).

    .venv/bin/python tests/compiler/make_fixtures.py [--count N]

Writes fixtures/random_<seed>.tflite and fixtures/MANIFEST.json (operators
per file). Conversion takes about a second per model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from keras_models import random_tflite  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24, help="number of seeds (0..count-1)")
    args = parser.parse_args(argv)
    from edgeloop.models.compiler.tflite_reader import read_tflite

    out = HERE / "fixtures"
    out.mkdir(exist_ok=True)
    manifest = {}
    for seed in range(args.count):
        data = random_tflite(seed)
        name = f"random_{seed:02d}.tflite"
        (out / name).write_bytes(data)
        ops = sorted({op.name for op in read_tflite(data).operators})
        manifest[name] = {"seed": seed, "bytes": len(data), "operators": ops}
        print(name, len(data), ops, flush=True)
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
