"""`bootsvc install`: the files that make a checkout installed into a venv a
systemd service (unit, settings, system user, data directory)."""
