"""DHCPv6 (RFC 8415) for network boot over IPv6: the wire codec and the
option encodings UEFI PXEv6 and HTTP Boot use (RFC 5970)."""
