"""SQLite: the connection, the one writer, migrations and named queries (the only SQL)."""
