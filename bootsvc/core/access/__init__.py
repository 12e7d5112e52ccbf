"""Who may ask: API bearer tokens, and whether a request comes from the node
it names."""
