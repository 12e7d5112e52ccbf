"""The lab: a network namespace with a bridge, bootsvc serving in it, and QEMU
virtual machines booting from it over the network. `bootsvc lab`, the demo,
vagrant/ and the end-to-end tests all use these pieces.
"""
