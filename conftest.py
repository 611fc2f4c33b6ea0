"""Top-level pytest configuration: shared options only; fixtures live beside their tests."""

import signal

from harness.proc import sigterm_as_interrupt


def pytest_addoption(parser):
    parser.addoption("--kernel", action="append", default=None,
                     help="kernel spec(s) for the integration tests (default: debian:6.1 and debian:sid)")


def pytest_configure(config):
    # SIGTERM (a CI job's cancel, `kill`) unwinds like Ctrl-C, so fixtures' cleanup runs and the
    # QEMUs a test started are shut down; by default SIGTERM would end pytest on the spot and leave
    # them running.
    signal.signal(signal.SIGTERM, sigterm_as_interrupt)
