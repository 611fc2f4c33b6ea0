"""Top-level pytest configuration: shared options only; fixtures live beside their tests."""


def pytest_addoption(parser):
    parser.addoption("--kernel", action="append", default=None,
                     help="kernel spec(s) for the integration tests (default: debian:6.1 and debian:sid)")
