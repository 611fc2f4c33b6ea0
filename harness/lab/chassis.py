"""The power switch of a virtual board: the program OpenIPMI's ipmi_sim runs for chassis control
(lan.conf ``chassis_control "<python> -m harness.lab.chassis <board dir>"``), so ``ipmitool
chassis power on`` starts the board's process and ``off`` stops it, as a BMC switches a board.

ipmi_sim's calling convention (lanserv/ipmi_sim_chassiscontrol in OpenIPMI):
``<prog> <mc> get power`` prints ``power:0|1``; ``<prog> <mc> set power 0|1`` and
``set reset 1`` print nothing on success; an error is printed on stdout with a non-zero exit.

The board directory (made by harness.lab.bmcsim, 0700) holds ``board.json``: {"argv": [...]}, the
command that *is* the board (QEMU with U-Boot as its firmware in the virtual lab); ``board.pid``
while it runs; ``board.log`` its output. The board runs in a session of its own and is stopped
by that PID's process group: only what this switch started.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.proc import running, stop_process_group

STOP_DEADLINE_S = 5.0


def _pid(board: Path) -> int | None:
    """The running board's PID (its process group's too), or None: no pid file, or it is gone or
    a zombie (its parent, this switch's earlier run, is gone: init reaps it)."""
    try:
        pid = int((board / "board.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if running(pid) else None


def power_on(board: Path) -> None:
    if _pid(board) is not None:
        return
    argv = json.loads((board / "board.json").read_text())["argv"]
    with open(board / "board.log", "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=board)
    (board / "board.pid").write_text(str(proc.pid))


def power_off(board: Path) -> None:
    pid = _pid(board)
    if pid is not None:
        stop_process_group(pid, STOP_DEADLINE_S)
    (board / "board.pid").unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: chassis <board dir> <mc> get|set [parm [val]]...")
        return 1
    board, op, args = Path(argv[0]), argv[2], argv[3:]
    if op == "get":
        for parm in args:
            if parm != "power":
                print(f"Invalid parameter: {parm}")
                return 1
            print(f"power:{int(_pid(board) is not None)}")
        return 0
    if op == "set":
        pairs = list(zip(args[::2], args[1::2]))
        for parm, val in pairs:
            if parm == "power":
                power_on(board) if val == "1" else power_off(board)
            elif parm == "reset" and val == "1":
                power_off(board)
                power_on(board)
            elif parm not in ("reset", "boot", "identify"):
                print(f"Invalid parameter: {parm}")
                return 1
        return 0
    print(f"Unknown operation: {op}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
