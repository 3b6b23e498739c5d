"""edgeloop.protocol is plain Python: a client can speak the link without numpy installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import edgeloop

REFUSE_NUMPY = '''
import sys
class RefuseNumpy:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ModuleNotFoundError(f"No module named {name!r} (refused by the test)", name=name)
        return None
sys.meta_path.insert(0, RefuseNumpy())
'''

PROBE = REFUSE_NUMPY + '''
import edgeloop.protocol as p
from edgeloop.protocol import vectors  # the golden vectors' loader is part of the package too
tensor = p.TensorDesc(p.DType.INT8, (1, 3), 0.25, 0)  # exact in float32, as the wire carries it
model = p.ModelDescriptor("imu", bytes(32), 1, 2, 3, p.InputKind.IMU_FEATURES, tensor, tensor, ("a",),
                          100, 64, 32, ((1.0, 2.0), (0.0, 1.0), (-1.0, 0.5)))
info = p.Info(1, 0, 2, p.TimingSource.HOST_CLOCK, 0, 1, 4096, 0, "fw", "host", (model,))
(event,) = p.Decoder().feed(p.encode_message(info, 7))
assert event.message == info, event  # decoded back to the very same descriptor
try:
    import numpy
except ModuleNotFoundError:
    print("protocol ok without numpy", "numpy" in sys.modules)
'''


def test_protocol_imports_and_round_trips_with_numpy_refused() -> None:
    # The folder this test imported edgeloop from (not resolved: the package may be a symlink).
    env = {**os.environ, "PYTHONPATH": str(Path(edgeloop.__file__).parent.parent)}
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "protocol ok without numpy False"
