"""Benchmarks of cvmigrate under the CQDaemon load, side by side with their limits."""
