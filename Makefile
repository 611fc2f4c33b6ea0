# vfio-hil: the two commands a new user needs are `make demo` and `make test`.
# Both install what they need first (Debian packages via apt, Python into .venv).
VENV    := .venv
PY      := $(VENV)/bin/python
HIL     := $(VENV)/bin/vfio-hil
TARGET  ?= qemu-highbank
KERNEL  ?= debian:6.1

.PHONY: setup demo test unit bench doctor clean-venv

setup:
	@scripts/host-setup.sh

# Build the Highbank artifacts and boot them to a shell under QEMU (labgrid),
# then show what the on-target agent sees of VFIO.
demo: setup
	$(HIL) build --target $(TARGET) --kernel $(KERNEL)
	$(HIL) boot --target $(TARGET) --kernel $(KERNEL)

# The project's own tests: unit tests, then the integration test that builds a
# real kernel and boots it under QEMU.
test: setup
	$(PY) -m pytest -ra tests

unit: setup
	$(PY) -m pytest -ra tests/unit

bench: setup
	$(PY) benchmarks/build_times.py
	$(PY) benchmarks/suite_times.py

doctor: setup
	$(HIL) doctor

clean-venv:
	rm -rf $(VENV)
