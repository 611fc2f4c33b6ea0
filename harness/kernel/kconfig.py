"""Kconfig fragments: what a target asks for, and whether it landed.

Merging is done by the kernel's own scripts/kconfig/merge_config.sh; this module
only reads fragments and the final .config and compares them.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

_SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")


@attrs.frozen
class Request:
    symbol: str
    value: str          # y, m, n, or the literal right-hand side
    where: str          # fragment:line, for messages


@attrs.frozen
class Mismatch:
    symbol: str
    wanted: str
    got: str | None     # None: the symbol is absent from the final .config
    where: str

    def describe(self) -> str:
        got = "absent (no such symbol, or its dependencies are not met)" if self.got is None else f"={self.got}"
        return f"CONFIG_{self.symbol}: asked ={self.wanted} at {self.where}, got {got}"


def parse_config_lines(text: str, origin: str = "") -> list[Request]:
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if m := _SET.match(line):
            out.append(Request(m.group(1), m.group(2), f"{origin}:{n}"))
        elif m := _UNSET.match(line):
            out.append(Request(m.group(1), "n", f"{origin}:{n}"))
    return out


def requested(fragments: list[Path]) -> dict[str, Request]:
    """Effective requests of fragments merged in order (later fragments override)."""
    out: dict[str, Request] = {}
    for frag in fragments:
        for req in parse_config_lines(frag.read_text(), frag.name):
            out[req.symbol] = req
    return out


def parse_final_config(text: str) -> dict[str, str]:
    return {r.symbol: r.value for r in parse_config_lines(text)}


def verify(requests: dict[str, Request], final: dict[str, str]) -> list[Mismatch]:
    """Requests that did not land. =m satisfied by =y counts as landed (something selects it)."""
    out = []
    for sym, req in requests.items():
        got = final.get(sym)
        if req.value == "n":
            ok = got in (None, "n")
        elif req.value == "m":
            ok = got in ("m", "y")
        else:
            ok = got == req.value
        if not ok:
            out.append(Mismatch(sym, req.value, got, req.where))
    return out


def split_findings(mismatches: list[Mismatch], finding_symbols: list[str]) -> tuple[list[Mismatch], list[Mismatch]]:
    """(findings, errors): a missing handler symbol is an observation about the kernel, anything else a config bug."""
    findings = [m for m in mismatches if m.symbol in finding_symbols]
    errors = [m for m in mismatches if m.symbol not in finding_symbols]
    return findings, errors
