"""Protocol servers and wire formats. Nothing here imports bootsvc.core or
bootsvc.store: each server is handed a small callable that makes decisions."""
