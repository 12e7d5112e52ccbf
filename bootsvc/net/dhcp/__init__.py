"""DHCPv4: the wire codec, firmware classification and the UDP server.

Nothing here knows about leases, the CMDB or the catalog: the server hands each
valid request to a `Responder` and sends back whatever it answers.
"""
