# vfio-hil: the two commands a new user needs are `make demo` and `make test`.
# Both install what they need first (Debian packages via apt, Python into .venv).
VENV    := .venv
PY      := $(VENV)/bin/python
HIL     := $(VENV)/bin/vfio-hil
TARGET  ?= qemu-highbank
KERNEL  ?= debian:6.1

.PHONY: setup demo test lab-test mutant-tests long-tests unit bench doctor matrix mutants dpdk-fidelity clean-venv

setup:
	@scripts/host-setup.sh

# Build the Highbank artifacts and boot them to a shell under QEMU (labgrid),
# then show what the on-target agent sees of VFIO.
demo: setup
	$(HIL) build --target $(TARGET) --kernel $(KERNEL)
	$(HIL) boot --target $(TARGET) --kernel $(KERNEL)

# The project's own tests: unit tests, then the integration tests that build
# real kernels and boot them under QEMU. The mutant tests (a patched kernel each) that do not
# fit CI's 30 minutes are `make mutant-tests`; the unpatched runs that do not, `make long-tests`.
test: setup
	$(PY) -m pytest -ra --durations=15 -m "not mutant and not long" tests

# The lab layer alone: IPMI against ipmi_sim, place locks against a real labgrid-coordinator, a
# board through RemotePlace, the virtual lab up/check/down in its namespace, the whole suite through
# the virtual lab (same verdicts as the local run; U-Boot, and UEFI/GRUB as Seattle boots) and the
# fault table's whole-run faults, the kexec board. make test runs all of it but the tests marked long.
lab-test: setup
	$(PY) -m pytest -ra -m lab tests

mutant-tests: setup
	$(PY) -m pytest -ra -m mutant tests

# Tests that do not fit make test's budget either: the type1 runs (qemu-seattle behind the SMMUv3 with the
# next guest's VMM checks on 6.1 and sid, qemu-lx2160a behind its MMU-500), the twin fidelity check, a twin dying
# mid-suite, and the lab's longer ones (the whole-run faults, Seattle's UEFI/GRUB board, SOL re-activation).
long-tests: setup
	$(PY) -m pytest -ra -m long tests

# The removal-impact matrix: every QEMU target, each of its IOMMU modes a row (no-IOMMU, and type1
# behind the SMMUv3 where the profile lists it), on debian:6.1, debian:6.12 and debian:sid, each run
# with its four reports, then matrix.md/.html in reports/matrix/latest. Exit code 1
# (some verdict is not pass, e.g. 6.1's reset.required_override) still leaves a
# complete matrix, so it is accepted; 2 (bad input) and 3 (infrastructure) are not.
MATRIX_OUT ?= reports/matrix/latest
matrix: setup
	rm -rf $(MATRIX_OUT)
	$(HIL) run --matrix --out $(MATRIX_OUT) || [ $$? -eq 1 ]
	@echo "matrix: $(MATRIX_OUT)/matrix.html and $(MATRIX_OUT)/matrix.md"

# Every action of every reset handler removed, one patch (or twin policy) at a time, on 6.1:
# the table of verdicts each removal flipped (tests/patches/mutants.yaml). About 40 minutes.
MUTANTS_OUT ?= reports/mutants/latest
mutants: setup
	rm -rf $(MUTANTS_OUT)
	$(PY) -m harness.mutants --out $(MUTANTS_OUT)

# DPDK's fslmc bus and dpaa2 qDMA driver against the MC twin (harness/fidelity/dpdk.py): a fidelity
# check by userspace nobody here wrote; how far it gets is the finding.
dpdk-fidelity: setup
	$(PY) -m harness.fidelity.dpdk --kernel debian:6.1
	$(PY) -m harness.fidelity.dpdk --kernel debian:6.1 --iommu type1

unit: setup
	$(PY) -m pytest -ra tests/unit

bench: setup
	$(PY) benchmarks/build_times.py
	$(PY) benchmarks/suite_times.py
	$(PY) benchmarks/report_times.py
	$(PY) benchmarks/mc_latency.py
	$(PY) benchmarks/smmu_walk.py
	$(PY) benchmarks/twin_latency_iommu.py
	$(PY) benchmarks/vmm_times.py
	$(PY) benchmarks/lab_times.py

doctor: setup
	$(HIL) doctor

clean-venv:
	rm -rf $(VENV)
