"""A private apt: download Debian packages without touching the host's apt.

Everything (sources, lists, archives, an empty dpkg status) lives under one
directory of our cache; apt-get/apt-cache are pointed at it with -o options.
The mirror is taken from the host's own apt sources (so a lab's local mirror is
honoured) or from VFIO_HIL_DEBIAN_MIRROR; the host's files are only read.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import attrs

from harness import proc
from harness.errors import CommandError, HostError

HOST_SOURCE_FILES = [Path("/etc/apt/sources.list")]
HOST_SOURCE_DIRS = [Path("/etc/apt/sources.list.d")]
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
LISTS_MAX_AGE_S = 24 * 3600
UPDATE_ATTEMPTS = 3
UPDATE_RETRY_PAUSE_S = 15


@attrs.frozen
class AptSource:
    uri: str
    suites: tuple
    components: tuple
    signed_by: str | None = None

    def is_debian_archive(self) -> bool:
        return self.uri.rstrip("/").endswith("/debian")

    def is_debian(self) -> bool:
        return self.is_debian_archive() or self.uri.rstrip("/").endswith("/debian-security")

    def lines(self) -> str:
        """One-line format: one line per suite (a line takes exactly one suite)."""
        opts = f"[signed-by={self.signed_by}] " if self.signed_by else ""
        return "".join(f"deb {opts}{self.uri} {suite} {' '.join(self.components)}\n" for suite in self.suites)


def parse_one_line_sources(text: str) -> list[AptSource]:
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        signed_by = None
        m = re.match(r"deb\s+\[([^\]]*)\]\s+(.*)", line)
        if m:
            for opt in m.group(1).split():
                key, _, val = opt.partition("=")
                if key == "signed-by":
                    signed_by = val
            rest = m.group(2).split()
        else:
            rest = line.split()[1:]
        if len(rest) >= 2:
            out.append(AptSource(rest[0], (rest[1],), tuple(rest[2:]), signed_by))
    return out


def parse_deb822_sources(text: str) -> list[AptSource]:
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for raw in stanza.splitlines():
            if raw.startswith("#") or ":" not in raw or raw[:1].isspace():
                continue
            key, _, val = raw.partition(":")
            fields[key.strip().lower()] = val.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
            continue
        for uri in fields.get("uris", "").split():
            out.append(AptSource(uri, tuple(fields.get("suites", "").split()),
                                 tuple(fields.get("components", "").split()), fields.get("signed-by")))
    return out


def host_debian_sources() -> list[AptSource]:
    sources: list[AptSource] = []
    for f in HOST_SOURCE_FILES:
        if f.is_file():
            sources += parse_one_line_sources(f.read_text(errors="replace"))
    for d in HOST_SOURCE_DIRS:
        for f in sorted(d.glob("*.list")) if d.is_dir() else []:
            sources += parse_one_line_sources(f.read_text(errors="replace"))
        for f in sorted(d.glob("*.sources")) if d.is_dir() else []:
            sources += parse_deb822_sources(f.read_text(errors="replace"))
    return [s for s in sources if s.is_debian()]


def sources_for_suite(suite: str, host_sources: list[AptSource], mirror: str | None,
                      security: bool = True) -> list[AptSource]:
    """The apt sources for ``suite``: 'stable' = the host's own Debian suites; 'backports' = the
    host's stable release's backports (bookworm-backports on Debian 12: newer kernel series built
    for stable, e.g. linux-source-6.12); 'sid' = unstable.

    ``security=False`` leaves out debian-security: initramfs userspace is a test
    instrument and is taken from the point release, which is also more
    reproducible; kernel sources keep it, since Debian ships kernel updates there.
    """
    if mirror:
        if suite == "stable":
            # A mirror without the host's suite names: ask for the current stable release by alias.
            return [AptSource(mirror, ("stable", "stable-updates"), ("main",), DEFAULT_KEYRING)]
        if suite == "backports":
            return [AptSource(mirror, ("stable-backports",), ("main",), DEFAULT_KEYRING)]
        return [AptSource(mirror, ("sid",), ("main",), DEFAULT_KEYRING)]
    if suite == "stable":
        chosen = [attrs.evolve(s, components=("main",)) for s in host_sources
                  if security or s.is_debian_archive()]
        if chosen:
            return chosen
    elif suite == "backports":
        archive = next((s for s in host_sources if s.is_debian_archive() and s.suites), None)
        if archive:
            codename = archive.suites[0].split("-")[0]
            return [AptSource(archive.uri, (f"{codename}-backports",), ("main",), archive.signed_by or DEFAULT_KEYRING)]
    else:
        archive = next((s for s in host_sources if s.is_debian_archive()), None)
        if archive:
            return [AptSource(archive.uri, ("sid",), ("main",), archive.signed_by or DEFAULT_KEYRING)]
    raise HostError("no Debian archive found in the host's apt sources (/etc/apt/sources.list*); "
                    "set VFIO_HIL_DEBIAN_MIRROR to the URI of a Debian mirror")


class PrivateApt:
    """apt-get/apt-cache confined to ``root``, for one suite and a set of architectures."""

    def __init__(self, root: Path, suite: str, arches: list[str], security: bool = True):
        self.root = root
        self.suite = suite
        self.arches = sorted(set(arches) | {"amd64"})
        self.log = root / "apt.log"
        for sub in ("etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
                    "lists/partial", "archives/partial", "dpkg"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        status = root / "dpkg/status"
        if not status.exists():
            status.write_text("")
        sources = sources_for_suite(suite, host_debian_sources(), os.environ.get("VFIO_HIL_DEBIAN_MIRROR"),
                                    security)
        text = "".join(s.lines() for s in sources)
        src_file = root / "etc/apt/sources.list"
        if not src_file.exists() or src_file.read_text() != text:
            src_file.write_text(text)
            (root / "lists/.updated").unlink(missing_ok=True)

    def _options(self) -> list[str]:
        r = self.root
        opts = {
            "Dir::Etc::SourceList": r / "etc/apt/sources.list",
            "Dir::Etc::SourceParts": r / "etc/apt/sources.list.d",
            "Dir::Etc::Parts": r / "etc/apt/apt.conf.d",
            "Dir::Etc::Preferences": r / "etc/apt/preferences",
            "Dir::Etc::PreferencesParts": r / "etc/apt/preferences.d",
            "Dir::State": r,
            "Dir::State::Lists": r / "lists",
            "Dir::State::status": r / "dpkg/status",
            "Dir::Cache": r,
            "Dir::Cache::archives": r / "archives",
            "Dir::Cache::pkgcache": "",
            "Dir::Cache::srcpkgcache": "",
            "APT::Architecture": "amd64",
            "Acquire::Languages": "none",
            "APT::Install-Recommends": "false",
            "Debug::NoLocking": "true",
        }
        out = []
        for k, v in opts.items():
            out += ["-o", f"{k}={v}"]
        for a in self.arches:
            out += ["-o", f"APT::Architectures::={a}"]
        if os.geteuid() == 0:
            # apt drops to _apt for downloads, which cannot write into root's cache.
            out += ["-o", "APT::Sandbox::User=root"]
        return out

    def update(self, max_age_s: float = LISTS_MAX_AGE_S) -> None:
        stamp = self.root / "lists/.updated"
        if stamp.exists() and time.time() - stamp.stat().st_mtime < max_age_s:
            return
        # A mirror caught mid-sync answers "File has unexpected size"; that passes
        # within seconds, so try a bounded number of times before calling it broken.
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                proc.run(["apt-get", *self._options(), "-q", "update"], what=f"apt-get update ({self.suite})",
                         log=self.log, timeout=600)
                break
            except CommandError:
                if attempt == UPDATE_ATTEMPTS - 1:
                    raise
                time.sleep(UPDATE_RETRY_PAUSE_S)
        stamp.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))

    def candidate(self, package: str) -> str | None:
        out = proc.run(["apt-cache", *self._options(), "policy", package],
                       what=f"apt-cache policy {package}").stdout
        m = re.search(r"Candidate:\s*(\S+)", out)
        return None if not m or m.group(1) == "(none)" else m.group(1)

    def package_names(self, prefix: str) -> list[str]:
        return proc.run(["apt-cache", *self._options(), "pkgnames", prefix],
                        what=f"apt-cache pkgnames {prefix}").stdout.split()

    def download(self, package: str, version: str, dest: Path) -> Path:
        """Download one exact package version into ``dest``; returns the .deb path."""
        dest.mkdir(parents=True, exist_ok=True)
        proc.run(["apt-get", *self._options(), "-q", "download", f"{package}={version}"],
                 what=f"apt-get download {package}={version}", log=self.log, cwd=dest, timeout=1800)
        # "name:arch" is saved as name_version_arch.deb (or _all.deb): the arch is matched, as in
        # download_with_dependencies, so that another arch's .deb in ``dest`` is never taken.
        name, _, arch = package.partition(":")
        debs = sorted([*dest.glob(f"{name}_*_{arch}.deb"), *dest.glob(f"{name}_*_all.deb")] if arch
                      else dest.glob(f"{name}_*.deb"))
        if not debs:
            raise HostError(f"apt-get download {package}={version} produced no .deb in {dest}")
        return debs[-1]

    def download_with_dependencies(self, packages: list[str], arch: str) -> list[Path]:
        """Download ``packages`` for ``arch`` and everything they depend on (apt's own solver,
        against an empty dpkg status, so nothing on the host counts as installed)."""
        archives = self.root / "archives"
        names = [f"{p}:{arch}" for p in packages]
        proc.run(["apt-get", *self._options(), "-q", "-y", "install", "--download-only", *names],
                 what=f"apt-get install --download-only {' '.join(names)}", log=self.log, timeout=1800)
        out = proc.run(["apt-get", *self._options(), "-q", "-s", "install", *names],
                       what="apt-get -s install").stdout
        # "Inst libc6:arm64 (2.36-9 Debian:12/stable [arm64])": name, version and the .deb's arch.
        wanted = re.findall(r"^Inst (\S+) \((\S+) [^\n]*\[(\S+)\]\)", out, re.M)
        debs = []
        for name, version, deb_arch in wanted:
            if deb_arch not in (arch, "all"):
                # apt satisfies some dependencies of arch-independent packages (adduser's, via
                # qemu-system-common) with the host's own arch: nothing a target could run.
                continue
            pkg = name.partition(":")[0]
            ver = version.split(":", 1)[-1]
            # The arch in the name: one directory holds the host's arch too, and a glob over any
            # arch picked libc6_..._amd64.deb for libc6:arm64 (sorted first; measured).
            matches = sorted(archives.glob(f"{pkg}_{ver}_{deb_arch}.deb")) + sorted(
                archives.glob(f"{pkg}_{version.replace(':', '%3a')}_{deb_arch}.deb"))
            if not matches:
                raise HostError(f"apt resolved {name} {version} [{deb_arch}] but no .deb for it is in {archives}")
            debs.append(matches[0])
        return debs
