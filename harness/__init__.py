"""vfio-hil: hardware-in-the-loop evidence for VFIO reset handlers."""

__version__ = "0.1.0"
