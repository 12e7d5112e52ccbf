"""Every metric bootsvc's processes count, and the one-line calls the
servers make at their seams. Labels take only values from small fixed sets
(message types, outcomes, Flask routes), never a MAC, address, host name or
path, so that the number of series stays bounded whatever clients send.

The state kept in the database (rollouts, reboot slots, lease pools) is not
counted here: bootsvc.web.metrics reads it when Prometheus scrapes."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DHCP_MESSAGES = Counter(
    "bootsvc_dhcp_messages",
    "DHCP messages received: their type (invalid when dropped), the reply "
    "sent (none when silent or dropped) and why none was sent.",
    ["type", "reply", "reason"],
)
DHCP6_MESSAGES = Counter(
    "bootsvc_dhcp6_messages",
    "DHCPv6 messages received: their type (invalid when dropped), the reply "
    "sent (none when silent or dropped) and why none was sent.",
    ["type", "reply", "reason"],
)
TFTP_TRANSFERS = Counter(
    "bootsvc_tftp_transfers",
    "TFTP read transfers ended, by outcome (sent, refused, aborted, failed, deferred).",
    ["outcome"],
)
TFTP_SENT_BYTES = Counter("bootsvc_tftp_sent_bytes", "File bytes sent in TFTP DATA packets.")
TFTP_RESENT_PACKETS = Counter(
    "bootsvc_tftp_resent_packets",
    "TFTP packets sent again because the client did not acknowledge them in time.",
)
TFTP_ERRORS = Counter(
    "bootsvc_tftp_errors",
    "TFTP ERROR packets sent to clients, by error code.",
    ["code"],
)
TFTP_IN_PROGRESS = Gauge(
    "bootsvc_tftp_transfers_in_progress",
    "TFTP transfers under way.",
    multiprocess_mode="livesum",
)
HTTP_REQUESTS = Counter(
    "bootsvc_http_requests",
    "HTTP requests answered, by route (the URL rule, not the path), method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "bootsvc_http_request_duration_seconds",
    "Time from a request's arrival to its response being ready (bodies sent "
    "by sendfile stream after that), by route and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BOOT_REPORTS = Counter(
    "bootsvc_boot_reports",
    "Boot reports recorded (a served node script counts as stage script), by "
    "stage and the outcome of the node's boot after it (unknown: no such node).",
    ["stage", "outcome"],
)
OVERLAY_CACHE = Counter(
    "bootsvc_overlay_cache_lookups",
    "Per-node overlay requests, by result: hit (served from the cache) or miss (rendered).",
    ["result"],
)

# Series that exist from the start, at zero: a rate over a series that
# appears with its first event misses that event, and dashboards find them.
for _stage in ("script", "kernel-loaded", "up", "failed"):
    for _outcome in ("booting", "up", "unhealthy", "failed", "abandoned", "unknown"):
        BOOT_REPORTS.labels(_stage, _outcome)
# bootsvc's own report of a boot it refused closes that boot at once.
BOOT_REPORTS.labels("refused", "refused")
for _result in ("hit", "miss"):
    OVERLAY_CACHE.labels(_result)
for _ended in ("sent", "refused", "aborted", "failed"):
    TFTP_TRANSFERS.labels(_ended)

# Any other method a client makes up is counted as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# TFTP error codes (RFC 1350, RFC 2347) by name.
_TFTP_CODES = {
    0: "not_defined",
    1: "file_not_found",
    2: "access_violation",
    3: "disk_full",
    4: "illegal_operation",
    5: "unknown_transfer_id",
    6: "file_exists",
    7: "no_such_user",
    8: "bad_option",
}


def dhcp_message(kind: str, reply: str, reason: str = "") -> None:
    DHCP_MESSAGES.labels(kind, reply, reason).inc()


def dhcp6_message(kind: str, reply: str, reason: str = "") -> None:
    DHCP6_MESSAGES.labels(kind, reply, reason).inc()


def tftp_error(code: int) -> None:
    TFTP_ERRORS.labels(_TFTP_CODES.get(code, "other")).inc()


def tftp_refused(code: int) -> None:
    """A request answered with an ERROR before any transfer began."""
    tftp_error(code)
    TFTP_TRANSFERS.labels("refused").inc()


def tftp_deferred() -> None:
    """A request left unanswered while the server is at its bound of transfers."""
    TFTP_TRANSFERS.labels("deferred").inc()


def tftp_started() -> None:
    TFTP_IN_PROGRESS.inc()


def tftp_ended(outcome: str, sent_bytes: int, resent: int) -> None:
    TFTP_IN_PROGRESS.dec()
    TFTP_TRANSFERS.labels(outcome).inc()
    TFTP_SENT_BYTES.inc(sent_bytes)
    TFTP_RESENT_PACKETS.inc(resent)


def http_request(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "other"
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_DURATION.labels(route, method).observe(seconds)


def boot_report(stage: str, outcome: str) -> None:
    BOOT_REPORTS.labels(stage, outcome).inc()


def overlay_lookup(hit: bool) -> None:
    OVERLAY_CACHE.labels("hit" if hit else "miss").inc()
