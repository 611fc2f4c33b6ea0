"""Support for the HIL suites in testsuites/: verdict plugin and platform-device steps."""
