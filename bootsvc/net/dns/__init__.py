"""DNS on dnslib's wire format with a server loop of our own. The server asks
a `ZoneSource` for its authoritative data and knows nothing of the CMDB.
dnslib's threaded server (a thread per request) and its DNSLogger (a line per
packet) are not used, so nothing prints per query."""

from bootsvc.net.dns.forward import Forwarder
from bootsvc.net.dns.server import DnsServer, ZoneSource, bind_sockets
from bootsvc.net.dns.zone import Answer, ZoneSet, name_key

__all__ = ["Answer", "DnsServer", "Forwarder", "ZoneSet", "ZoneSource", "bind_sockets", "name_key"]
