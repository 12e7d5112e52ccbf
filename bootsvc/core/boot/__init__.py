"""What a machine boots and how it went: the boot plan, the iPXE scripts and
TFTP names that carry it, each boot's reports, and the fleet's status."""
