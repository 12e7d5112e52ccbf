"""Boot storm (issue 16): N simulated machines power on at once and boot a
debian-hypervisor image through the whole network chain, against bootsvc and
against a reference stack (dnsmasq for DHCP and TFTP, nginx for HTTP).

`firmware` plays the machines, `stacks` starts the servers, `run` ties them
together: `sudo .venv/bin/python -m bench.storm --help`.
"""
