"""Loopback fakes of the services cvmigrate talks to (real sockets, no mocking of our code)."""
