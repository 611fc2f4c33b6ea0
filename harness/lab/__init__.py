"""labgrid layer: drivers and strategies registered with labgrid's target factory.

Lab configs load this with ``imports: [harness.lab]``.
"""

from harness.lab.paramiko_ssh import ParamikoSSHDriver  # noqa: F401  (registers the driver)
from harness.lab.strategy import StableShellDriver, VfioHilStrategy  # noqa: F401  (registers them)
from harness.lab.qemu import DeadlineQEMUDriver  # noqa: F401  (registers the driver)
from harness.lab.ipmi import IPMIBMC, IPMIPowerDriver, IPMISOLConsoleDriver  # noqa: F401  (registers them)
