"""Fixtures for tests that build real kernels and boot them under QEMU."""

import os
from pathlib import Path

import pytest

from harness.artifacts import build_artifacts
from harness.kernel.spec import parse_kernel_spec
from harness.targets import get_target


BOARDS = ["qemu-highbank", "qemu-midway"]
# A Calxeda board's suite: 5 opening checks, 5 variants x (dma_bleed, irq_bleed, reset_state, tx_leak,
# next_open, next_tenant_irq) and child_holds_fd's holder check, reset.ioctl, deprecation.message, the two
# reset_required checks, and the 5 + 1 null-reset controls.
N_TESTS = 46


# make test builds one kernel per architecture (armv7 and arm64, Debian stable's 6.1) to stay well
# under 30 minutes from an empty cache; `pytest --kernel debian:6.1 --kernel debian:sid` runs the
# kernel-parametrised tests (boot, matrix) on both, and `make matrix` compares kernels.
DEFAULT_KERNELS = ["debian:6.1"]


def kernel_specs(config) -> list[str]:
    return config.getoption("--kernel") or DEFAULT_KERNELS


def pytest_generate_tests(metafunc):
    if "kernel_spec" in metafunc.fixturenames:
        metafunc.parametrize("kernel_spec", kernel_specs(metafunc.config), scope="session")
    if "board_name" in metafunc.fixturenames:
        metafunc.parametrize("board_name", BOARDS, scope="session")


@pytest.fixture(scope="session")
def highbank():
    return get_target("qemu-highbank")


@pytest.fixture(scope="session")
def highbank_artifacts(highbank, kernel_spec):
    """Built once per session (minutes cold, seconds from the cache)."""
    return build_artifacts(highbank, parse_kernel_spec(kernel_spec), [])


@pytest.fixture(scope="session")
def board(board_name):
    """Each Calxeda board QEMU emulates (same kernel, own dtb and profile)."""
    return get_target(board_name)


@pytest.fixture(scope="session")
def board_artifacts(board, kernel_spec):
    return build_artifacts(board, parse_kernel_spec(kernel_spec), [])


@pytest.fixture(scope="session")
def matrix_kernels(request) -> list[str]:
    """The session's kernels; 6.1 always, since the patch and twin checks compare against it."""
    specs = kernel_specs(request.config)
    return specs if "debian:6.1" in specs else ["debian:6.1", *specs]


@pytest.fixture(scope="session")
def matrix_dir(tmp_path_factory, matrix_kernels):
    """`vfio-hil run --matrix` through the real CLI: both boards on both kernels, once per session.
    Exit code 1 is expected (6.1 fails reset.required_override); 2 or 3 would be a harness problem."""
    import sys

    from harness.proc import run, tail_of_file

    out = tmp_path_factory.mktemp("matrix")
    log = tmp_path_factory.mktemp("matrix-cli") / "cli.log"
    # The Calxeda boards: the twin targets' own checks are in test_twin_fidelity (one arm64 kernel).
    # harness.proc.run: on an interrupt of this session the CLI gets SIGTERM and time to stop its
    # suite and QEMU (subprocess.run would SIGKILL it and orphan them).
    proc = run([sys.executable, "-m", "harness", "run", "--matrix", "--matrix-kernels", ",".join(matrix_kernels),
                "--matrix-targets", ",".join(BOARDS), "--out", str(out)],
               what="vfio-hil run --matrix", log=log, timeout=3600, check=False, stop_grace_s=60)
    assert proc.returncode in (0, 1), f"run --matrix exited {proc.returncode}:\n{tail_of_file(log, 60)}"
    return out


PATCHES = Path(__file__).resolve().parent.parent / "patches"


@pytest.fixture(scope="session")
def suite_runs(tmp_path_factory):
    """run(target_name, kernel_spec, patch_name=None, iommu=None) -> results document; each
    combination runs the suite once per session (several tests judge the same run)."""
    from harness.artifacts import build_artifacts
    from harness.kernel.spec import parse_kernel_spec
    from harness.run import run_suite

    done: dict = {}

    def run(target_name: str, kernel: str = "debian:6.1", patch: str | None = None, iommu: str | None = None) -> dict:
        key = (target_name, kernel, patch, iommu)
        if key not in done:
            target = get_target(target_name).for_iommu(iommu)
            art = build_artifacts(target, parse_kernel_spec(kernel), [PATCHES / patch] if patch else [])
            # Relative, as `make matrix` passes it: every path handed to labgrid must survive that.
            out = Path(os.path.relpath(tmp_path_factory.mktemp(f"{target_name}-{iommu or 'default'}-{patch or 'unpatched'}")))
            done[key] = {**run_suite(target, art, out, say=lambda m: None), "dir": out}
        return done[key]
    return run
