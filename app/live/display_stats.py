"""What a display did with the result stream: counters and per-frame host spans (no Qt).

The GUI fills it; bench/app_e2e.py and the status bar read it.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field


@dataclass
class DisplayStats:
    """What the display did: for the status bar and bench/app_e2e.py. Times are time.monotonic() spans.

    Per drawn frame: `delivery_s` record built (reader thread) → GUI thread took it;
    `wait_s` taken → drawing began (held by the frame-rate cap or a backlog);
    `render_s` drawing began → the paint that shows the frame completed;
    `overhead_s` the record's own host overhead (capture → send, reply → record)
    plus those three: all host time from capture to pixels except device, wire
    and the board's credit window. Frames whose paint could not be confirmed
    (window hidden) are counted in `unpainted` and have no overhead sample.
    """

    received: int = 0
    displayed: int = 0
    dropped: int = 0  # records skipped because the display fell more than MAX_BACKLOG behind
    unpainted: int = 0
    previews: int = 0  # captures painted on their own because no result showed them in time (a slower link)
    delivery_s: collections.deque = field(default_factory=lambda: collections.deque(maxlen=4096))
    wait_s: collections.deque = field(default_factory=lambda: collections.deque(maxlen=4096))
    render_s: collections.deque = field(default_factory=lambda: collections.deque(maxlen=4096))
    overhead_s: collections.deque = field(default_factory=lambda: collections.deque(maxlen=4096))
    frame_gap_s: collections.deque = field(default_factory=lambda: collections.deque(maxlen=4096))  # paint → paint

    def clear_series(self) -> None:
        """Forget the per-frame spans (the counters stay)."""
        for series in (self.delivery_s, self.wait_s, self.render_s, self.overhead_s, self.frame_gap_s):
            series.clear()
