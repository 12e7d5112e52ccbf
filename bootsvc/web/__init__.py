"""HTTP front ends: the REST API under /api/v1, the boot endpoints that
firmware and nodes use, and artifact serving."""
