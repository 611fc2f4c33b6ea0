"""PlaceWatch: a place found lost makes that test and every later one the lab's error; checks are
throttled, and a check that fails for any reason (taken, released, coordinator gone) is a loss."""

import pytest

from harness.errors import InfrastructureError
from harness.lab.placelock import PlaceLost, PlaceWatch


class FakeLock:
    def __init__(self):
        self.calls, self.fail_with = 0, None

    def check(self, before):
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with


def test_checks_are_throttled_and_a_healthy_place_passes():
    lock = FakeLock()
    watch = PlaceWatch(lock, every_s=3600)
    for name in ("a", "b", "c"):
        watch.check(name)
    assert lock.calls == 1


def test_a_coordinator_gone_is_a_loss_that_sticks():
    lock = FakeLock()
    watch = PlaceWatch(lock, every_s=0)
    watch.check("a")
    lock.fail_with = InfrastructureError("labgrid-client failed: connection refused")
    with pytest.raises(PlaceLost, match="found after b: labgrid-client failed: connection refused"):
        watch.check("b")
    lock.fail_with = None                  # even if the coordinator came back: the run is not ours to trust
    with pytest.raises(PlaceLost, match="not judged: the place was lost during the run, found after b"):
        watch.check("c")
    assert lock.calls == 2


def test_a_place_taken_over_is_a_loss():
    lock = FakeLock()
    lock.fail_with = PlaceLost("place p is no longer ours before the end of a: held by h/other")
    with pytest.raises(PlaceLost, match="held by h/other"):
        PlaceWatch(lock).check("a")


def test_a_forced_check_asks_even_within_the_throttle():
    lock = FakeLock()
    watch = PlaceWatch(lock, every_s=3600)
    watch.check("a")
    lock.fail_with = InfrastructureError("coordinator is unavailable")
    watch.check("b")                                   # throttled: not asked
    with pytest.raises(PlaceLost, match="found after the suite: coordinator is unavailable"):
        watch.check("the suite", force=True)
    assert lock.calls == 2
