"""bootsvc: network boot service for diskless KVM hypervisor clusters."""

__version__ = "0.1.0"
