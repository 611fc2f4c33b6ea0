"""One VMM process on the target (QEMU 7.2 from harness/vmm/bundle.py), driven over SSH: started
in the background with its serial console (the guest's lines) in a file, its QMP on a FIFO pair,
its pid and exit status in files, all in DIR (0700: nobody else on the target can reach its QMP).

Every wait has a deadline; ``stop`` kills only the pid this object started."""

from __future__ import annotations

import json
import re
import shlex
import time

from harness.errors import InfrastructureError
from harness.suite.platform import KernelRefused
from harness.vmm import bundle

DIR = "/tmp/vfio-hil-vmm"
GUEST = f"{DIR}/guest.bin"
GUEST_PREFIX = "VFIO-HIL-GUEST "
POLL_S = 0.2
START_DEADLINE_S = 10.0
QMP_DEADLINE_S = 10
# negotiate, run one command, print QMP's lines until both have answered (a return, or an error: a
# second negotiation on a monitor that already has one answers CommandNotFound)
QMP_SCRIPT = """base=$1; printf '{"execute":"qmp_capabilities"}\\n{"execute":"%s"}\\n' "$2" > "$base.in"
n=0; while IFS= read -r line; do echo "$line"
case "$line" in *'"return"'*|*'"error"'*) n=$((n+1)); [ $n -ge 2 ] && exit 0;; esac; done; exit 1
"""
# KVM where the target has it (a board), else TCG (a twin target: QEMU inside QEMU).
ACCEL = ("if [ -c /dev/kvm ]; then accel='-accel kvm -cpu host'; "
         "else accel='-accel tcg -cpu cortex-a57'; fi")


# QEMU's vfio reports what a VFIO call returned with strerror(); EPERM is the kernel refusing (e.g.
# type1's rule against groups without isolated MSIs, 6.3+: "failed to set iommu for container:
# Operation not permitted"), a `fail` like the agent's refusals (platform.KernelRefused). Anything
# else a VMM dies of stays the lab's error.
REFUSAL = re.compile(r"vfio.*Operation not permitted")


def kernel_refusal(lines: list[str]) -> str | None:
    """The VMM's line saying the kernel refused it a VFIO operation, or None."""
    return next((line for line in lines if REFUSAL.search(line)), None)


def prepare(ssh) -> None:
    """DIR with the QMP helper; the guest and the bundle are put there by the caller."""
    ssh.run_check(f"mkdir -p {DIR} && chmod 0700 {DIR} && cat > {DIR}/qmp.sh <<'EOF'\n{QMP_SCRIPT}EOF")


def vmm_args(device: str, vmm_device: str, role: str, qmp: str) -> str:
    """virt with a GICv2 (the guest's GIC driver; a Seattle's GIC-400 under KVM), 64 MiB, the guest
    as -kernel with its role on the command line, the device assigned, QMP on a FIFO pair."""
    return (f"-M virt,gic-version=2 -m 64 -nographic -monitor none -nodefaults -serial stdio "
            f"-kernel {GUEST} -append vfiohil.role={role} -device {vmm_device},host={device} "
            f"-chardev pipe,id=qmp,path={qmp} -mon chardev=qmp,mode=control")


class TargetVmm:
    def __init__(self, ssh, name: str, device: str, vmm_device: str, role: str):
        self.ssh, self.name = ssh, name
        self.base = f"{DIR}/{name}"
        self.args = vmm_args(device, vmm_device, role, f"{self.base}.qmp")
        self.pid: int | None = None
        self.accel: str | None = None
        self.started_at: float | None = None

    def start(self) -> "TargetVmm":
        b = self.base
        self.ssh.run_check(
            f"rm -f {b}.out {b}.pid {b}.rc {b}.qmp.in {b}.qmp.out && mkfifo -m 0600 {b}.qmp.in {b}.qmp.out && "
            f"{ACCEL}; echo \"$accel\" > {b}.accel; "
            f"( {bundle.command('$accel ' + self.args)} </dev/null >{b}.out 2>&1 & echo $! > {b}.pid; "
            f"wait $!; echo $? > {b}.rc ) >/dev/null 2>&1 </dev/null &")
        self.started_at = time.monotonic()
        end = self.started_at + START_DEADLINE_S
        while time.monotonic() < end:
            out, _, rc = self.ssh.run(f"cat {b}.pid {b}.accel 2>/dev/null")
            if rc == 0 and len(out) == 2:
                self.pid, self.accel = int(out[0]), out[1]
                return self
            time.sleep(POLL_S)
        raise InfrastructureError(f"the VMM {self.name} did not start within {START_DEADLINE_S} s: "
                                  f"{self.output()[-10:]}")

    def output(self) -> list[str]:
        return self.ssh.run(f"cat {self.base}.out 2>/dev/null")[0]

    def guest_events(self) -> list[dict]:
        """The guest's lines, in order (a line torn by a death is skipped)."""
        out = []
        for line in self.output():
            # A guest reset cuts a line short and the next boot's first line continues it: the last
            # prefix of a line is where its complete one starts.
            at = line.rfind(GUEST_PREFIX)
            if at >= 0:
                try:
                    out.append(json.loads(line[at + len(GUEST_PREFIX):]))
                except ValueError:
                    continue
        return out

    def exit_status(self) -> int | None:
        out, _, rc = self.ssh.run(f"cat {self.base}.rc 2>/dev/null")
        return int(out[0]) if rc == 0 and out else None

    def wait_for(self, event: str, deadline_s: float, since: int = 0, pred=lambda e: True) -> dict:
        """The first guest line ``event`` (at index >= ``since`` of guest_events) that satisfies
        ``pred``. The guest's own error or exception lines, the VMM's exit and the deadline each end
        the wait as the lab's error, with the VMM's last lines."""
        end = time.monotonic() + deadline_s
        while True:
            evs = self.guest_events()
            for e in evs[since:]:
                if e.get("event") == event and pred(e):
                    return e
                if e.get("event") in ("error", "exception"):
                    raise InfrastructureError(f"the guest in VMM {self.name} stopped: {e}")
            rc = self.exit_status()
            if rc is not None and len(self.guest_events()) > len(evs):
                continue                # it printed more on its way out: look at that first
            if rc is not None or time.monotonic() >= end:
                last = self.output()[-8:]
                refused = kernel_refusal(last) if rc is not None else None
                if refused:
                    raise KernelRefused(f"the kernel refused the VMM {self.name} the device: {refused}")
                why = f"exited {rc}" if rc is not None else f"printed no {event!r} within {deadline_s} s"
                raise InfrastructureError(f"VMM {self.name} {why}; its last lines: {last}")
            time.sleep(POLL_S)

    def qmp(self, command: str) -> list[str]:
        """Run one QMP command; its lines (greeting, returns, events). No return is the lab's error."""
        out, _, rc = self.ssh.run(f"timeout {QMP_DEADLINE_S} sh {DIR}/qmp.sh {self.base}.qmp {shlex.quote(command)} "
                                  f"< {self.base}.qmp.out", timeout=QMP_DEADLINE_S + 10)
        if rc != 0 or '"error"' in (out[-1] if out else ""):
            raise InfrastructureError(f"QMP {command} to VMM {self.name} got no return within {QMP_DEADLINE_S} s: {out}")
        return out

    def signal(self, sig: str) -> None:
        self.ssh.run_check(f"kill -{sig} {self.pid}")

    def wait_exit(self, deadline_s: float) -> int | None:
        """Its exit status, or None if it is still there at the deadline."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            rc = self.exit_status()
            if rc is not None:
                return rc
            time.sleep(POLL_S)
        return None

    def stop(self) -> None:
        """SIGKILL this VMM if it still runs (cleanup after a broken experiment: the device must not
        stay open into the next test)."""
        if self.pid is not None and self.exit_status() is None:
            self.ssh.run(f"kill -9 {self.pid} 2>/dev/null")
            self.wait_exit(10.0)
