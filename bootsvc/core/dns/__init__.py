"""The fleet's DNS zones, read from the CMDB and rebuilt when it changes."""
