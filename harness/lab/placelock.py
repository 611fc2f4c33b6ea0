"""A CI job's hold on a labgrid place: reserve, wait (bounded), lock, re-check before each power
or boot step, and always release, through ``labgrid-client`` (labgrid's own, stable CLI to the
coordinator). Each job has its own identity: LG_USERNAME (and LG_HOSTNAME), as labgrid reads them.

labgrid's flow for CI (doc/usage.rst, "Reservations"): ``reserve --shell name=<place>`` gives a
token; ``wait <token>`` returns once the coordinator allocated the place to it; ``-p +<token>
lock`` acquires it. Release is ``unlock`` and ``cancel-reservation``. A place another job holds
makes the wait run to its deadline: then the reservation is cancelled and the error says who
holds it. A coordinator that does not answer is an InfrastructureError (the lab's, an `error`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import attrs

from harness.errors import InfrastructureError
from harness.lab.netns import prefix as netns_prefix

CLIENT = "labgrid-client"
CALL_DEADLINE_S = 30.0


def labgrid_bin(name: str) -> str:
    """labgrid's console scripts beside this interpreter (the venv's), else from PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


class CoordinatorTimeout(InfrastructureError):
    """A labgrid-client call ran past its deadline (for `wait`: the place stayed taken)."""


class PlaceLost(InfrastructureError):
    """The place is no longer ours (another job took it over, or it was released under us)."""


@attrs.define
class PlaceLock:
    place: str
    coordinator: str                     # host:port of labgrid-coordinator
    username: str                        # this job's identity (LG_USERNAME)
    wait_s: float = 600.0                # how long to wait for a place another job holds
    token: str | None = None
    locked: bool = False
    netns: str | None = None             # the virtual lab's: its coordinator is inside this namespace

    def env(self) -> dict:
        return {**os.environ, "LG_COORDINATOR": self.coordinator, "LG_USERNAME": self.username}

    def child_env(self) -> dict:
        """What the suite's process needs: the place for labgrid's RemotePlace (LG_PLACE), for its
        strategy's checks (VFIO_HIL_PLACE), the coordinator and this job's identity."""
        return {"LG_PLACE": self.place, "VFIO_HIL_PLACE": self.place, "LG_COORDINATOR": self.coordinator,
                "LG_USERNAME": self.username}

    def client(self, *args: str, deadline_s: float = CALL_DEADLINE_S, check: bool = True) -> str:
        argv = [*netns_prefix(self.netns), labgrid_bin(CLIENT), *args]
        try:
            proc = subprocess.run(argv, env=self.env(), capture_output=True, text=True, timeout=deadline_s)
        except subprocess.TimeoutExpired:
            raise CoordinatorTimeout(f"the labgrid coordinator {self.coordinator} did not answer "
                                      f"`{' '.join(argv)}` within {deadline_s:.0f} s") from None
        except FileNotFoundError:
            raise InfrastructureError(f"{CLIENT} is not installed (pip: labgrid; or: make setup)") from None
        if check and proc.returncode != 0:
            raise InfrastructureError(f"`{' '.join(argv)}` failed (exit {proc.returncode}) against the coordinator "
                                      f"{self.coordinator}: {(proc.stderr or proc.stdout).strip()[-400:]}")
        return proc.stdout

    def holder(self) -> str | None:
        """Who has acquired the place ("host/user"), or None."""
        m = re.search(r"^\s*acquired:\s*(\S+)\s*$", self.client("-p", self.place, "show"), re.M)
        return None if m is None or m.group(1) == "None" else m.group(1)

    def acquire(self) -> None:
        """Reserve, wait up to ``wait_s`` for the allocation, lock."""
        out = self.client("reserve", "--shell", f"name={self.place}")
        m = re.search(r"LG_TOKEN=(\S+)", out)
        if m is None:
            raise InfrastructureError(f"labgrid-client reserve printed no token: {out!r}")
        self.token = m.group(1)
        try:
            self.client("wait", self.token, deadline_s=self.wait_s)
        except CoordinatorTimeout:
            held = self._holder_or_none()
            self.cancel()
            raise InfrastructureError(f"place {self.place} was not free within {self.wait_s:.0f} s"
                                      + (f": {held} holds it" if held else "")
                                      + "; try again later or ask its holder to release it") from None
        except InfrastructureError:         # the coordinator failed: say that, not "busy"
            self.cancel()
            raise
        self.client("-p", f"+{self.token}", "lock")
        self.locked = True

    def _holder_or_none(self) -> str | None:
        try:
            return self.holder()
        except InfrastructureError:
            return None

    def _ours(self, held: str | None) -> bool:
        """Whether ``held`` ("host/user" from holder()) is this job's identity."""
        return held is not None and held.split("/", 1)[-1] == self.username

    def check(self, before: str) -> None:
        """Before a power or boot step: the place must still be ours."""
        held = self.holder()
        if not self._ours(held):
            self.locked = False
            raise PlaceLost(f"place {self.place} is no longer ours before {before}: "
                            f"{'held by ' + held if held else 'released'} (we are {self.username})")

    def cancel(self) -> None:
        if self.token is not None:
            self.client("cancel-reservation", self.token, check=False)
            self.token = None

    def release(self) -> None:
        """Unlock (only if still ours) and cancel the reservation; never raises for a place already
        gone, so it can run in every finally and signal handler."""
        try:
            if self.locked and self._ours(self._holder_or_none()):
                self.client("-p", self.place, "unlock", check=False)
        finally:
            self.locked = False
            try:
                self.cancel()
            except InfrastructureError:
                pass

    def __enter__(self) -> "PlaceLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def place_of_this_job() -> PlaceLock | None:
    """Inside a run's suite (VFIO_HIL_PLACE, LG_COORDINATOR and LG_USERNAME set by run_suite): the
    place the job holds, to check; None for a local QEMU target."""
    place = os.environ.get("VFIO_HIL_PLACE")
    if not place:
        return None
    return PlaceLock(place, os.environ["LG_COORDINATOR"], os.environ["LG_USERNAME"])


@attrs.define
class PlaceWatch:
    """The suite's watch on its place: a verdict counts only while the job holds the board, so
    after each test the place is checked (at most every ``every_s``: a labgrid-client call costs
    about 0.45 s, measured) and once it is found lost (taken over, released, or the coordinator
    gone or not answering) that test and every later one is the lab's error. A loss is thus seen
    within ``every_s`` plus one test; the tests that ended before it keep their verdicts."""
    lock: PlaceLock
    every_s: float = 5.0
    checked_at: float | None = None
    lost: str | None = None

    def check(self, after: str, force: bool = False) -> None:
        """PlaceLost if the place is (or was found) lost; ``force``: ask the coordinator even if
        the last check was less than ``every_s`` ago (before switching the board)."""
        if self.lost is not None:
            raise PlaceLost(f"not judged: {self.lost}")
        now = time.monotonic()
        if not force and self.checked_at is not None and now - self.checked_at < self.every_s:
            return
        try:
            self.lock.check(f"the end of {after}")
        except InfrastructureError as exc:
            self.lost = f"the place was lost during the run, found after {after}: {exc}"
            raise PlaceLost(self.lost) from exc
        self.checked_at = now


def wait_for_coordinator(address: str, deadline_s: float = 20.0, netns: str | None = None) -> None:
    """Until ``labgrid-client places`` answers against ``address`` (a coordinator just started;
    inside network namespace ``netns`` if given)."""
    end = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < end:
        proc = subprocess.run([*netns_prefix(netns), labgrid_bin(CLIENT), "places"], env={**os.environ, "LG_COORDINATOR": address},
                              capture_output=True, text=True, timeout=deadline_s)
        if proc.returncode == 0:
            return
        last = (proc.stderr or proc.stdout).strip()[-300:]
        time.sleep(0.3)
    raise InfrastructureError(f"the labgrid coordinator at {address} did not answer within {deadline_s:.0f} s: {last}")
