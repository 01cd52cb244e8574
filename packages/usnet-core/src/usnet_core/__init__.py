"""usnet_core: the sans-I/O state machines of the usnet userspace TCP/IP stack.

Frames go in with `Interface.receive(frame, now)`, frames come out of
`Interface.transmit(now)`, and `Interface.poll_at()` says when to call again. Nothing here
does I/O, reads a clock, or draws randomness of its own.
"""

from __future__ import annotations

__version__ = "0.1.0"
