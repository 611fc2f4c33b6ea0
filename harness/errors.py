"""Every error vfio-hil raises on purpose, and what the CLI does with it.

    VfioHilError                    base; ``exit_code`` is what the CLI exits with
    ├── UsageError (exit 2)         the user's input is wrong; the message says the fix
    │   ├── UnknownTargetError      target name not in targets/
    │   ├── TargetProfileError      a target profile file has a bad/unknown field
    │   ├── KernelSpecError         kernel spec not of a known form, or tree missing
    │   ├── PatchError              a --kernel-patch does not apply (names patch + hunk)
    │   ├── FragmentError           Kconfig fragment symbol did not land, and it is not a finding
    │   ├── HostError               host lacks a tool/package/disk space (names the fix)
    │   └── ResultsError            a result directory given to report/matrix/compare is not one
    └── InfrastructureError (exit 3) something we ran broke: carries command, rc, log tail
        └── CommandError

Usage errors are raised before anything is written to the cache, or the partial
work lives in a temporary directory that is removed: "bad input loses nothing".
"""

from __future__ import annotations

from pathlib import Path


class VfioHilError(Exception):
    exit_code = 1


class UsageError(VfioHilError):
    exit_code = 2


class UnknownTargetError(UsageError):
    pass


class TargetProfileError(UsageError):
    pass


class KernelSpecError(UsageError):
    pass


class PatchError(UsageError):
    pass


class FragmentError(UsageError):
    pass


class HostError(UsageError):
    pass


class ResultsError(UsageError):
    pass


class InfrastructureError(VfioHilError):
    exit_code = 3


class CommandError(InfrastructureError):
    """A command we ran failed; keeps everything needed to reproduce and diagnose it."""

    def __init__(self, what: str, argv: list[str], returncode: int | None,
                 output_tail: str, log_path: Path | None = None, cwd: Path | None = None):
        self.what = what
        self.argv = list(argv)
        self.returncode = returncode
        self.output_tail = output_tail
        self.log_path = log_path
        self.cwd = cwd
        super().__init__(self._render())

    def _render(self) -> str:
        import shlex

        rc = "timed out" if self.returncode is None else f"exit code {self.returncode}"
        lines = [f"{self.what} failed ({rc})", f"  command: {shlex.join(self.argv)}"]
        if self.cwd:
            lines.append(f"  cwd: {self.cwd}")
        if self.log_path:
            lines.append(f"  full log: {self.log_path}")
        if self.output_tail.strip():
            lines.append("  last lines of output:")
            lines.extend("    " + line for line in self.output_tail.rstrip().splitlines())
        return "\n".join(lines)
