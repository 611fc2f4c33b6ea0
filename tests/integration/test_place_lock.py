"""A CI job's hold on a labgrid place (harness/lab/placelock.py) against a real labgrid-coordinator
on a loopback port: a place another job holds makes the next one wait, then fail with who holds
it; a place taken over mid-run is found before the next power or boot step; a coordinator that
vanished is the lab's error; release always leaves the place free and no reservation behind."""

import time

import pytest

from harness.errors import InfrastructureError
from harness.lab.coordinator import Coordinator
from harness.lab.placelock import PlaceLock, PlaceLost
from harness.lab.strategy import check_place

pytestmark = [pytest.mark.integration, pytest.mark.lab]


@pytest.fixture
def coordinator(tmp_path):
    with Coordinator(tmp_path / "coordinator") as c:
        assert c.client("-p", "board-1", "create").returncode == 0
        yield c


def test_a_held_place_makes_the_next_job_wait_then_say_who_holds_it(coordinator):
    first = PlaceLock("board-1", coordinator.address, "ci-job-1")
    with first:
        assert first.holder().endswith("/ci-job-1")
        second = PlaceLock("board-1", coordinator.address, "ci-job-2", wait_s=3)
        start = time.monotonic()
        with pytest.raises(InfrastructureError, match=r"board-1 was not free within 3 s: \S+/ci-job-1 holds it"):
            second.acquire()
        assert time.monotonic() - start >= 3
    assert first.holder() is None
    assert "Reservation" not in coordinator.client("reservations").stdout, "a reservation was left behind"
    with PlaceLock("board-1", coordinator.address, "ci-job-2", wait_s=10) as second:   # now it is free
        assert second.holder().endswith("/ci-job-2")


def test_a_place_taken_over_is_found_before_the_next_step(coordinator, monkeypatch):
    job = PlaceLock("board-1", coordinator.address, "ci-job-1")
    job.acquire()
    monkeypatch.setenv("VFIO_HIL_PLACE", "board-1")
    monkeypatch.setenv("LG_COORDINATOR", coordinator.address)
    monkeypatch.setenv("LG_USERNAME", "ci-job-1")
    check_place("power on")                                   # ours: no error
    kicked = coordinator.client("-p", "board-1", "release", "--kick", username="lab-admin")
    assert kicked.returncode == 0, kicked.stderr
    with pytest.raises(PlaceLost, match=r"no longer ours before boot: released \(we are ci-job-1\)"):
        check_place("boot")
    job.release()                                             # returns; cancels its reservation
    assert "Reservation" not in coordinator.client("reservations").stdout


def test_a_vanished_coordinator_is_the_labs_error(coordinator):
    job = PlaceLock("board-1", coordinator.address, "ci-job-1")
    job.acquire()
    coordinator.stop()
    with pytest.raises(InfrastructureError, match="coordinator"):
        job.check("power on")
    job.release()                                             # and releasing still returns
