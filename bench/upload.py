"""Model upload speed: a 50 KB container into a RAM slot of the host board paced at 921,600 baud.

The host board's --baud throttle paces both directions like a UART (baud/10
bytes per second). `edgeloop.app.link.deploy.deploy` uploads a container of
a fully connected model with 50,000 weights (UPLOAD_BEGIN, credit-windowed
UPLOAD_CHUNKs, UPLOAD_COMMIT with the board's SHA-256 check and validation),
timed on the host clock from UPLOAD_BEGIN to UPLOAD_COMMITTED.

    link_bound_s       every request frame's wire bytes (COBS, header, CRC, delimiters) at baud/10 B/s
    upload_s           measured (host clock), median of --runs uploads
    upload_link_ratio  link_bound_s / upload_s (target >= 0.9)

    python bench/upload.py [--json] [--baud 921600] [--runs 5]

On a real board (`--port /dev/ttyACM0 --slot N`) the same figures time that
board's slot: the Nucleo's flash slot (the slot after its RAM slot) adds the
sector erase and the 256-bit word programming to every upload, which is how
its timing is reported separately from the RAM slot's.

    python bench/upload.py --port /dev/ttyACM0 --baud 921600 --slot 1 [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys

import numpy as np

from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.container import container_from_compiled
from edgeloop.models.compiler.tflite_writer import ModelBuilder

WEIGHTS = 50_000


def fc_container(n_in: int = 250, n_out: int = WEIGHTS // 250) -> bytes:
    """A container of one int8 FULLY_CONNECTED layer with n_in x n_out weights (~50 KB)."""
    rng = np.random.default_rng(0)
    b = ModelBuilder()
    x = b.tensor((1, n_in), scale=0.05, zero_point=-3)
    w = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    wt = b.tensor(w.shape, scale=[0.01], zero_point=[0], data=w)
    bias = b.tensor((n_out,), "int32", scale=[0.0005], zero_point=[0],
                    data=rng.integers(-1000, 1000, n_out).astype(np.int32))
    y = b.tensor((1, n_out), scale=0.5, zero_point=2)
    b.op("FULLY_CONNECTED", [x, wt, bias], [y], "FullyConnectedOptions", activation="NONE")
    return container_from_compiled(compile_bytes(b.build([x], [y]), name="fc50k"))


def wire_bytes(container: bytes, chunk: int, slot: int = 0) -> int:
    """Bytes the host sends for one upload: BEGIN, every chunk and COMMIT, framed."""
    from edgeloop.protocol import encode_message
    from edgeloop.protocol.upload import UploadBegin, UploadChunk, UploadCommit

    total = len(encode_message(UploadBegin(slot, len(container), chunk, hashlib.sha256(container).digest()), 1))
    for at in range(0, len(container), chunk):
        total += len(encode_message(UploadChunk(slot, at, container[at:at + chunk]), 2))
    return total + len(encode_message(UploadCommit(slot, True), 3))


def main(argv: list[str] | None = None) -> int:
    from edgeloop.app.link.boards import start_board  # bench may use the app layer
    from edgeloop.app.link.deploy import DEFAULT_CHUNK_BYTES, deploy

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--baud", type=int, default=921_600)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--port", help="a real board's serial port or URL (default: start a paced host board)")
    ap.add_argument("--slot", type=int, help="upload slot (default: alternate the host board's slots 0 and 1)")
    args = ap.parse_args(argv)
    container = fc_container()
    times = []

    def run_uploads(url: str) -> None:
        for run in range(args.runs):
            slot = args.slot if args.slot is not None else run % 2
            # A flash slot erases its sectors first: allow the datasheet's worst case per sector.
            result = deploy(url, container, slot=slot, timeout=5 if args.port is None else 30)
            times.append(result.seconds)
            print(f"run {run}: slot {slot}, {result.seconds:.4f} s, {result.chunks_sent} chunks", file=sys.stderr)

    if args.port is not None:
        run_uploads(args.port)
    else:
        with start_board("host", baud=args.baud, timeout=60) as board:
            run_uploads(board.url)
    bound = wire_bytes(container, DEFAULT_CHUNK_BYTES) / (args.baud / 10)
    upload = statistics.median(times)
    summary = {
        "source": (f"host clock; board at {args.port}, slot {args.slot}" if args.port is not None
                   else "host clock; host board paced at baud/10 bytes/s both ways"),
        "baud": args.baud,
        "container_bytes": len(container),
        "chunk_bytes": DEFAULT_CHUNK_BYTES,
        "link_bound_s": round(bound, 4),
        "upload_s": round(upload, 4),
        "upload_s_runs": [round(t, 4) for t in times],
        "upload_link_ratio": round(bound / upload, 3),
    }
    print(json.dumps(summary) if args.json else json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
