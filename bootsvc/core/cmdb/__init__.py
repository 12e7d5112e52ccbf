"""The CMDB: nodes, their interfaces and clusters, the records users send for
them, and the limits on enlisting machines nobody registered."""
