"""cvmigrate: the Change Verifier side of the migration.Migration API that CQDaemon calls."""

__version__ = "0.1.0"
