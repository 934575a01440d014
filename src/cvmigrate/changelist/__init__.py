"""CL snapshots from Gerrit, triggers and dependencies."""
