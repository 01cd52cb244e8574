"""Developer sessions: tests, lint, typecheck, demo, bench."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PACKAGES = [
    "packages/usnet-core",
    "packages/usnet-backends",
    "packages/usnet-sync",
    "packages/usnet-trio",
]
TEST_DEPS = ["pytest>=8", "hypothesis>=6.100", "h11>=0.14", "trio>=0.22", "pyroute2>=0.7"]


def _install_packages(session: nox.Session) -> None:
    for pkg in PACKAGES:
        session.install("-e", pkg)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite (root-only tests run when root, skip with a reason otherwise)."""
    _install_packages(session)
    session.install(*TEST_DEPS)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the packages."""
    session.install("mypy==2.4.1", *TEST_DEPS)
    _install_packages(session)
    session.run("mypy", "--strict", "packages/usnet-core/src/usnet_core")
    session.run("mypy", "--strict", "packages/usnet-backends/src/usnet_backends")
    session.run("mypy", "--strict", "packages/usnet-sync/src/usnet_sync")


@nox.session
def demo(session: nox.Session) -> None:
    """Two stacks talking (in memory without root; over TAP against the kernel as root)."""
    _install_packages(session)
    session.run("python", "-m", "usnet_sync.demo", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the kernel and other stacks, as ratios (see bench/)."""
    _install_packages(session)
    session.run("python", "bench/run.py", *session.posargs)
    if os.geteuid() == 0:
        session.run("python", "bench/tcp_tap.py")
    else:
        session.log("bench/tcp_tap.py needs root (TAP, namespaces): skipped")
