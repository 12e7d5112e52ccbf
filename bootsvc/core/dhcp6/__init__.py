"""DHCPv6 decisions: addresses from a range and the CMDB's reservations
(authoritative), or boot information only beside the site's server (proxy)."""
