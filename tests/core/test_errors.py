"""The core's error types: real errnos and the kernel's messages."""

from __future__ import annotations

import errno
import os

from usnet_core import errors


def test_error_messages_read_like_the_kernels() -> None:
    for cls in (errors.ConnectionRefused, errors.ConnectionReset, errors.BrokenPipe,
                errors.ConnectionTimedOut, errors.HostUnreachable, errors.WouldBlock):  # fmt: skip
        err = cls()
        assert err.strerror == os.strerror(err.errno), cls
    assert str(errors.ConnectionRefused()) == "[Errno 111] Connection refused"
    assert errors.ConnectionRefused().errno == errno.ECONNREFUSED
