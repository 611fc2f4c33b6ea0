"""The null-reset negative-control kernel module (C), built against each kernel."""
