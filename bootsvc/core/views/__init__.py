"""What bootsvc shows: one JSON shape per object, shared by the API (and its
OpenAPI document) and the CLI's --json output."""
