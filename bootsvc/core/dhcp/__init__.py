"""DHCP decisions: leases, reservations and boot files for the protocol
server in bootsvc.net.dhcp."""
