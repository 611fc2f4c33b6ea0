"""Device twins: devices QEMU does not emulate, played by a host process through qtest."""
