"""`python -m usnet_sync.run SCRIPT [ARGS...]` (or `-m MODULE`): the same as `usnet run`.

Runs an unported Python program with `usnet_sync.patch_socket()` applied, on the stack
that USNET_SOCKETS describes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import usnet_sync
from usnet_sync.cli import main as cli_main
from usnet_sync.patch import patch_socket


def main(argv: Sequence[str] | None = None) -> int:
    """Run `usnet run` with `argv` (default: sys.argv[1:]); return the exit status."""
    # The CLI finds patch_socket on the package; until usnet_sync/__init__ exports it,
    # provide it here so both entry points behave the same.
    vars(usnet_sync).setdefault("patch_socket", patch_socket)
    return cli_main(["run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
