"""The store: every SQL statement the service runs, on SQLite (the embedded default)."""
