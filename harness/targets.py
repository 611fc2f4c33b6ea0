"""Target profiles: one YAML data file per board or QEMU fallback in targets/.

A profile says what to build (arch, Kconfig fragments, dtb, userspace) and what
to expect; how to drive the board lives in its labgrid environment
(``lab_config``). The registry feeds the CLI's choices and its
"unknown target X, available: ..." error.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import yaml

from harness.errors import TargetProfileError, UnknownTargetError, UsageError
from harness.paths import LAB_CONFIGS_DIR, TARGETS_DIR


@attrs.frozen
class Arch:
    """What differs between kernel architectures, for building and for userspace."""

    kernel_arch: str
    cross_compile: str
    kernel_image: str       # make target and file under arch/<arch>/boot/
    debian_arch: str        # Debian architecture of the initramfs packages
    qemu_binary: str


ARCHES = {
    "arm": Arch("arm", "arm-linux-gnueabihf-", "zImage", "armhf", "qemu-system-arm"),
    "arm64": Arch("arm64", "aarch64-linux-gnu-", "Image", "arm64", "qemu-system-aarch64"),
}

_SYMBOL = re.compile(r"^[A-Z0-9_]+$")
_COMPATIBLE = re.compile(r"^[a-z0-9-]+,[A-Za-z0-9.,_-]+$")
# a platform device (unit address.node name) or an fsl-mc object (type.id, e.g. dprc.2)
_DEVICE = re.compile(r"^([0-9a-f]+\.[A-Za-z0-9_-]+|dp[a-z]+\.[0-9]+)$")


def _str_list(inst, attribute, value):
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{attribute.name} must be a list of non-empty strings, got {value!r}")


def _tree_paths(attribute, value):
    _str_list(None, attribute, value)
    bad = [v for v in value if not v.startswith("/") or v.endswith("/")]
    if bad:
        raise ValueError(f"{attribute.name} must list device tree node paths such as /smb/iommu@e0600000, got {bad}")


def _symbols(inst, attribute, value):
    _str_list(inst, attribute, value)
    bad = [v for v in value if not _SYMBOL.match(v) or v.startswith("CONFIG_")]
    if bad:
        raise ValueError(f"{attribute.name}: {bad} are not Kconfig symbols (write them without CONFIG_)")


def _objects(attribute, value):
    _str_list(None, attribute, value)
    bad = [v for v in value if not re.match(r"^dp[a-z]+\.[0-9]+$", v) or v.startswith("dprc.")]
    if bad:
        raise ValueError(f"{attribute.name}: {bad} are not fsl-mc objects like dpio.1 (a container cannot be assigned)")


def _compatibles(inst, attribute, value):
    _str_list(inst, attribute, value)
    bad = [v for v in value if not _COMPATIBLE.match(v)]
    if bad:
        raise ValueError(f"{attribute.name}: {bad} are not device-tree compatibles like \"calxeda,hb-xgmac\" "
                         f"(in YAML, quote them: a bare comma splits a [flow, list])")


def _known_warnings(inst, attribute, value):
    if not isinstance(value, list):
        raise ValueError(f"{attribute.name} must be a list of {{pattern, reason}} mappings")
    for item in value:
        if not isinstance(item, dict) or set(item) != {"pattern", "reason"} or not all(
                isinstance(v, str) and v.strip() for v in item.values()):
            raise ValueError(f"{attribute.name}: each entry needs exactly a non-empty pattern and reason, got {item!r}")
        try:
            re.compile(item["pattern"])
        except re.error as exc:
            raise ValueError(f"{attribute.name}: pattern {item['pattern']!r} is not a regular expression: {exc}")


def _quiescence(value):
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and re.match(r"^0x[0-9a-fA-F]+$", v) for k, v in value.items()):
        raise ValueError(f"dut_quiescence must map register names to hex masks like \"0x2002\", got {value!r}")


IOMMU_MODES = ["noiommu", "type1"]


def _iommu_modes(inst, attribute, value):
    _str_list(inst, attribute, value)
    bad = [v for v in value if v not in IOMMU_MODES]
    if bad or not value or len(set(value)) != len(value):
        raise ValueError(f"{attribute.name} must list each of {IOMMU_MODES} at most once, default first; got {value!r}")


def _nonempty_str(inst, attribute, value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string, got {value!r}")


@attrs.frozen
class TargetProfile:
    """A target, as declared in targets/<name>.yaml. Every field is documented there."""

    name: str = attrs.field(validator=_nonempty_str)
    description: str = attrs.field(validator=_nonempty_str)
    arch: str = attrs.field(validator=attrs.validators.in_(sorted(ARCHES)))
    # A dtb the kernel builds (e.g. highbank.dtb), or "qemu": the machine's own tree, dumped by
    # QEMU at run time, with the device twin's nodes added (harness/twins/).
    dtb: str = attrs.field(validator=attrs.validators.matches_re(r"^([\w.-]+\.dtb|qemu)$"))
    kconfig: list = attrs.field(validator=_str_list)
    console: str = attrs.field(validator=attrs.validators.matches_re(r"^tty\w+$"))
    # The management NIC's device: a platform device name, virtioN for a virtio-mmio NIC, or a
    # DPAA2 network interface on the fsl-mc bus (dpni.N: an LX2160A board's).
    mgmt_device: str = attrs.field(validator=attrs.validators.matches_re(
        r"^([0-9a-f]+\.[A-Za-z0-9_-]+|virtio\d+|dpni\.\d+)$"))
    lab_config: str = attrs.field(validator=_nonempty_str)
    kconfig_findings: list = attrs.field(factory=list, validator=_symbols)
    mgmt_modules: list = attrs.field(factory=list, validator=_str_list)
    # ethtool -K features turned off on the management NIC at boot (needs ethtool in userspace_packages)
    mgmt_features_off: list = attrs.field(factory=list, validator=_str_list)
    null_reset_compatibles: list = attrs.field(factory=list, validator=_compatibles)
    # Kernel warnings the emulation causes: [{pattern, reason}]; see harness.bootlog
    known_boot_warnings: list = attrs.field(factory=list, validator=_known_warnings)
    userspace_packages: list = attrs.field(factory=lambda: ["busybox-static", "dropbear-bin"],
                                           validator=_str_list)
    # The device under test: sysfs name, compatible, and the physical DMA window
    # ("PHYS:SIZE") outside Linux's memory that its ring and canary live in.
    dut_device: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(_DEVICE)))
    dut_compatible: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(_COMPATIBLE)))
    # The kernel module of the device's reset handler, as in /proc/modules.
    dut_reset_module: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(r"^[a-z0-9_]+$")))
    # Its Kconfig symbol (without CONFIG_): the matrix's "handler built?" reads it from the .config.
    dut_reset_config: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(r"^[A-Z0-9_]+$")))
    dma_window: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(r"^0x[0-9a-fA-F]+:0x[0-9a-fA-F]+$")))
    # Register bits that must read zero once the device is reset ({name: "0xMASK"}, names as the
    # agent reports them), and which of those registers enable interrupt sources.
    dut_quiescence: dict = attrs.field(factory=dict, validator=lambda i, a, v: _quiescence(v))
    dut_irq_enable_registers: list = attrs.field(factory=list, validator=_str_list)
    # The device's own kernel driver (module name), which the suite's native.probe check loads once
    # against the device and removes again: on a twin, a fidelity check by code nobody here wrote.
    dut_native_module: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(r"^[a-z0-9_]+$")))
    # Set (to the reason) for a device with no wired interrupt, e.g. FlexRM, whose MSIs are DMA
    # writes: its irq_bleed checks are `skip` with this reason and the DMA canary covers the MSIs.
    dut_no_wired_irq: str | None = attrs.field(default=None, validator=attrs.validators.optional(_nonempty_str))
    # Why the suite cannot watch what the device transmits after its owner died (no transmit
    # path, or one that cannot send by itself here); unset means the agent runs TX and the
    # frames the device sends on its backend are captured.
    dut_no_tx: str | None = attrs.field(default=None, validator=attrs.validators.optional(_nonempty_str))
    # How vfio may reach the device, the run's default first (`vfio-hil run --iommu` picks another):
    # noiommu, vfio's unsafe no-IOMMU mode (vfio.enable_unsafe_noiommu_mode=1: every address is
    # physical); type1, VFIO type1 behind an IOMMU (on a twin target: QEMU virt's SMMUv3, the twin
    # at stream ID iommu_sid; the MC twin: an MMU-500 twin, each container's ICID its stream; every
    # address the device is given is an IOVA).
    iommu_modes: list = attrs.field(factory=lambda: ["noiommu"], validator=_iommu_modes)
    iommu_sid: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(r"^0x[0-9a-fA-F]{1,4}$")))
    extra_bootargs: str = attrs.field(default="", validator=attrs.validators.instance_of(str))
    # A device twin plays the device under test (harness/twins/): its kind; it needs dtb: qemu.
    twin: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.in_(["xgmac", "xgbe", "flexrm", "fslmc"])))
    # fsl-mc only: the object in the container under test that the tenant enables (e.g. dpdmai.1),
    # and a DPMCP of the root container the harness binds to vfio-fsl-mc to ask the firmware about
    # it without touching the container (the board's DPL must provide one).
    dut_object: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(r"^dp[a-z]+\.[0-9]+$")))
    probe_portal: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(r"^dpmcp\.[0-9]+$")))
    # fsl-mc in type1: the physical address of probe_portal's MC portal. There the root container's
    # objects share dprc.1's IOMMU group, which the kernel's driver holds, so VFIO cannot take the
    # DPMCP; the harness unbinds it from the kernel and maps its portal through /dev/mem.
    probe_portal_phys: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(r"^0x[0-9a-fA-F]+$")))
    # fsl-mc only: when the board's DPL leaves these objects in the root container, the harness
    # makes the container under test itself, the way restool does (/dev/dprc.1: create the
    # container, assign them), and destroys it when the suite ends; empty: the DPL made it.
    dut_create: list = attrs.field(factory=list, validator=lambda i, a, v: _objects(a, v))
    # Where a twin's register windows start when the device's sysfs name carries no address
    # (an fsl-mc object: the MC's portals, then its control registers).
    twin_base: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.matches_re(r"^0x[0-9a-fA-F]+$")))
    # The QEMU 7.2 device that assigns dut_device to a guest (the VMM checks, harness/vmm/: their
    # guest drives the AMD XGBE only); unset: the target has no VMM checks. They run in type1 only
    # (QEMU's vfio needs an IOMMU container).
    vmm_device: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.in_(["vfio-amd-xgbe"])))
    # A board whose kernel drives its IOMMUs (type1): the tree paths of those IOMMU nodes that a
    # no-IOMMU run switches off (status "disabled", harness/lab/boardtree.py), so that the device
    # under test keeps no IOMMU group there.
    noiommu_disable: list = attrs.field(factory=list, validator=lambda i, a, v: _tree_paths(a, v))
    source_file: Path | None = attrs.field(default=None, eq=False)
    # The run's mode, one of iommu_modes (not a YAML field: the first of them, or what for_iommu() picks).
    iommu_mode: str = attrs.field()

    @iommu_mode.default
    def _default_iommu_mode(self) -> str:
        return self.iommu_modes[0]

    @property
    def mode_suffix(self) -> str:
        """What a run's name carries for its IOMMU mode: nothing for no-IOMMU, else "-type1"."""
        return "" if self.iommu_mode == "noiommu" else f"-{self.iommu_mode}"

    def for_iommu(self, mode: str | None) -> "TargetProfile":
        """This profile for a run in IOMMU ``mode`` (None: the profile's default, its first mode)."""
        mode = mode or self.iommu_modes[0]
        if mode not in self.iommu_modes:
            raise UsageError(f"target {self.name} cannot run with --iommu {mode}: {self.source_file} lists "
                             f"iommu_modes {self.iommu_modes}")
        return attrs.evolve(self, iommu_mode=mode)

    @property
    def arch_info(self) -> Arch:
        return ARCHES[self.arch]

    def kconfig_paths(self) -> list[Path]:
        return [TARGETS_DIR / frag for frag in self.kconfig]

    def lab_config_path(self) -> Path:
        return LAB_CONFIGS_DIR / self.lab_config

    def in_shared_lab(self) -> bool:
        """Whether the labgrid environment reaches its board through a labgrid place (RemotePlace):
        a board in a shared lab, run with `vfio-hil run --place NAME`."""
        config = yaml.safe_load(self.lab_config_path().read_text().replace("!template", ""))
        return "RemotePlace" in (config["targets"]["main"].get("resources") or {})

    def qemu_settings(self) -> dict | None:
        """The QEMU driver's settings from the labgrid environment, with the binary resolved; None for a board."""
        # labgrid resolves !template at load time; here only the literal fields are wanted.
        config = yaml.safe_load(self.lab_config_path().read_text().replace("!template", ""))
        drivers = config["targets"]["main"]["drivers"]
        qemu = next((dict(v) for k, v in drivers.items() if "QEMU" in k), None)
        if qemu is not None:
            qemu["binary"] = config.get("tools", {}).get(qemu["qemu_bin"], qemu["qemu_bin"])
        return qemu


def load_profile(path: Path) -> TargetProfile:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise TargetProfileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TargetProfileError(f"{path}: expected a mapping of fields, got {type(data).__name__}")
    known = {f.name for f in attrs.fields(TargetProfile)} - {"source_file", "iommu_mode"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TargetProfileError(f"{path}: unknown field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(known))}")
    missing = sorted(f.name for f in attrs.fields(TargetProfile)
                     if f.default is attrs.NOTHING and f.name not in data)
    if missing:
        raise TargetProfileError(f"{path}: missing field(s) {', '.join(missing)}")
    try:
        profile = TargetProfile(**data, source_file=path)
    except (TypeError, ValueError) as exc:
        raise TargetProfileError(f"{path}: {exc}") from exc
    if profile.name != path.stem:
        raise TargetProfileError(f"{path}: field name is {profile.name!r} but the file is {path.name}; they must agree")
    for frag in profile.kconfig_paths():
        if not frag.is_file():
            raise TargetProfileError(f"{path}: field kconfig names {frag}, which does not exist")
    unknown_irq = [r for r in profile.dut_irq_enable_registers if r not in profile.dut_quiescence]
    if unknown_irq:
        raise TargetProfileError(f"{path}: dut_irq_enable_registers {unknown_irq} are not in dut_quiescence")
    if profile.dut_no_wired_irq and profile.dut_irq_enable_registers:
        raise TargetProfileError(f"{path}: dut_no_wired_irq says the device has no wired interrupt, yet "
                                 f"dut_irq_enable_registers names {profile.dut_irq_enable_registers}; drop one")
    if profile.mgmt_features_off and "ethtool" not in profile.userspace_packages:
        raise TargetProfileError(f"{path}: mgmt_features_off needs ethtool; add it to userspace_packages")
    if not profile.lab_config_path().is_file():
        raise TargetProfileError(f"{path}: field lab_config names {profile.lab_config_path()}, which does not exist")
    if (profile.twin is None) != (profile.dtb != "qemu"):
        raise TargetProfileError(f"{path}: a twin target takes its tree from QEMU and only a twin target does: "
                                 f"set both `twin:` and `dtb: qemu`, or neither (twin={profile.twin!r}, "
                                 f"dtb={profile.dtb!r})")
    if profile.twin and not (profile.dut_device and profile.dma_window):
        raise TargetProfileError(f"{path}: twin {profile.twin!r} needs dut_device (its unit address is where the "
                                 f"twin's registers sit) and dma_window")
    if "type1" in profile.iommu_modes and profile.probe_portal and not profile.probe_portal_phys:
        raise TargetProfileError(f"{path}: iommu_modes lists type1 for an fsl-mc target, which asks the firmware "
                                 f"through probe_portal's MC portal by address: set probe_portal_phys")
    if profile.twin == "fslmc" and profile.iommu_sid:
        raise TargetProfileError(f"{path}: iommu_sid does not apply to the MC twin: its streams are its containers' "
                                 f"ICIDs (iommu-map); remove the field")
    if "type1" in profile.iommu_modes and not (profile.iommu_sid or profile.twin == "fslmc") and \
            (profile.twin or profile.qemu_settings() is not None):
        raise TargetProfileError(f"{path}: iommu_modes lists type1, which needs a twin behind an SMMU and its "
                                 f"stream ID (iommu_sid), or a board whose kernel drives its IOMMU")
    if profile.noiommu_disable and profile.twin:
        raise TargetProfileError(f"{path}: noiommu_disable is for a board's own tree; a twin's tree has no IOMMU "
                                 f"in a no-IOMMU run: remove the field")
    return profile


def available_targets(directory: Path = TARGETS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


def get_target(name: str, directory: Path = TARGETS_DIR) -> TargetProfile:
    path = directory / f"{name}.yaml"
    if not path.is_file():
        raise UnknownTargetError(f"unknown target {name!r}, available: {', '.join(available_targets(directory)) or 'none'}")
    return load_profile(path)
