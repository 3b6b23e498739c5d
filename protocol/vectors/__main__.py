"""Regenerate vectors.json, or write the golden vectors as a C header.

    python -m edgeloop.protocol.vectors              # rewrite vectors.json
    python -m edgeloop.protocol.vectors --c-header OUT.h
"""

import argparse
from pathlib import Path

from edgeloop.protocol.vectors import VECTORS_PATH, c_header, load_vectors, write_json

parser = argparse.ArgumentParser(prog="python -m edgeloop.protocol.vectors", description=__doc__)
parser.add_argument("--c-header", type=Path, metavar="OUT.h", help="write the committed vectors as a C header")
args = parser.parse_args()
if args.c_header:
    args.c_header.parent.mkdir(parents=True, exist_ok=True)
    from edgeloop.protocol.vectors.upload import load_upload_vectors

    args.c_header.write_text(c_header(load_vectors(), load_upload_vectors()), encoding="utf-8")
    print(f"wrote {args.c_header}")
else:
    write_json()
    print(f"wrote {VECTORS_PATH}")
