"""One typed settings object, read from a TOML file, then BOOTSVC_* variables,
then command-line flags, each source overriding the one before.

Settings that start network services (TFTP, DNS, DHCP) default to off, so that
bootsvc never starts answering on a network by accident.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bootsvc import digits
from bootsvc.errors import SettingsError

ENV_PREFIX = "BOOTSVC_"
DEFAULT_CONFIG = Path("/etc/bootsvc/bootsvc.toml")
# Listen addresses that name no host: the runtime finds the advertised one.
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})
# The first-stage loaders bootsvc names in its DHCP replies: BIOS, then the
# two UEFI x86-64 choices of `uefi_loader`.
LOADERS = ("undionly.kpxe", "snponly.efi", "ipxe.efi")
# Durations and TTLs: 2**31 - 1 seconds (68 years) is the most a DNS TTL may
# be (RFC 2181), fits DHCP's 32-bit lease time, and keeps datetimes from
# overflowing; more is a typo, refused here rather than crashing a server.
MAX_SECONDS = 2**31 - 1
# The default bound on a node's facts (setting cmdb_max_facts_bytes).
MAX_FACTS_BYTES = 64 * 2**10


class LabDhcpTftp(StrEnum):
    """Who answers DHCP and TFTP in a lab: bootsvc alone (authoritative), dnsmasq
    handing out addresses beside bootsvc's ProxyDHCP, or dnsmasq alone; or an
    IPv6-only lab network, with radvd's router advertisements and bootsvc's
    authoritative DHCPv6 and TFTP over IPv6."""

    BOOTSVC = "bootsvc"
    PROXY = "proxy"
    DNSMASQ = "dnsmasq"
    BOOTSVC_IPV6 = "bootsvc-ipv6"

    @property
    def ipv6_only(self) -> bool:
        return self is LabDhcpTftp.BOOTSVC_IPV6

    @property
    def with_dnsmasq(self) -> bool:
        return self in {LabDhcpTftp.PROXY, LabDhcpTftp.DNSMASQ}


class DhcpMode(StrEnum):
    AUTHORITATIVE = "authoritative"
    PROXY = "proxy"
    OFF = "off"


def _default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/bootsvc")
    return Path.home() / ".local" / "share" / "bootsvc"


def default_image_cache_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bootsvc"


def parse_host_port(value: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """Accept "host:port", ":port" or "[v6]:port"."""
    host, sep, port_text = value.rpartition(":")
    port = digits.number(port_text)
    if not sep or port is None or not 0 < port < 65536:
        raise ValueError(f"{value!r} is not host:port")
    return host.strip("[]") or default_host, port


def parse_upstream(value: str) -> tuple[str, int]:
    """A DNS resolver: "IP", "IP:port" or "[IPv6]:port"; port 53 by default."""
    try:
        return str(ipaddress.ip_address(value.strip())), 53
    except ValueError:
        pass
    host, port = parse_host_port(value, default_host="")
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address with an optional port") from None


def _comma_list(value: Any) -> Any:
    """Lists may be given as "a,b" in the environment."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _address_range(value: str, family: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> str:
    """A DHCP pool or DHCPv6 range, "FIRST-LAST", in canonical form."""
    if not value:
        return value
    first, sep, last = value.partition("-")
    if not sep:
        raise ValueError("must be FIRST-LAST")
    low, high = family(first.strip()), family(last.strip())
    if int(low) > int(high):
        raise ValueError("the first address is after the last")
    return f"{low}-{high}"


class ProxyStyle(StrEnum):
    PIXIECORE = "pixiecore"
    SMEE = "smee"


@dataclass(frozen=True)
class ProxyStyles:
    default: ProxyStyle = ProxyStyle.PIXIECORE
    by_arch: dict[int, ProxyStyle] = field(default_factory=dict)
    # (vendor class prefix, style), tried in order before the architecture.
    by_vendor: tuple[tuple[str, ProxyStyle], ...] = ()

    def for_client(self, vendor_class: str, arch: int | None) -> ProxyStyle:
        for prefix, style in self.by_vendor:
            if vendor_class.startswith(prefix):
                return style
        if arch is not None and arch in self.by_arch:
            return self.by_arch[arch]
        return self.default


def _style(value: str) -> ProxyStyle:
    try:
        return ProxyStyle(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a ProxyDHCP style (pixiecore or smee)") from None


def parse_styles(text: str) -> ProxyStyles:
    """Read STYLE[,ARCH=STYLE|VENDOR-PREFIX=STYLE...], e.g. "pixiecore,9=smee"."""
    default = ProxyStyle.PIXIECORE
    by_arch: dict[int, ProxyStyle] = {}
    by_vendor: list[tuple[str, ProxyStyle]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.rpartition("=")
        arch = digits.number(key.strip())
        if not sep:
            default = _style(item)
        elif arch is not None:
            by_arch[arch] = _style(value)
        elif key.strip():
            by_vendor.append((key.strip(), _style(value)))
        else:
            raise ValueError(f"{item!r} has no architecture or vendor class before '='")
    return ProxyStyles(default, by_arch, tuple(by_vendor))


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path
    database_url: str = ""
    http_listen: str = "0.0.0.0:8080"
    advertise_url: str = ""
    # The URL nodes booting over IPv6 reach this server at: found from
    # dhcp6_interface when HTTP listens on ::, or advertise_url when that
    # names an IPv6 host. Scripts for a node asking over IPv6 use it.
    advertise_url6: str = ""
    http_workers: int = Field(default=2, ge=1, le=1024)
    http_threads: int = Field(default=64, ge=1, le=4096)
    # PostgreSQL connections each process keeps (as many again when busy): a
    # thread beyond waits for one. The CPU, not the pool, bounds the work, and
    # PostgreSQL admits 100 connections for every server of a site together.
    database_pool_size: int = Field(default=8, ge=1, le=1000)

    tftp_listen: str = ""
    # Transfers at once; a request beyond waits for the client's resend.
    tftp_max_sessions: int = Field(default=1000, ge=1, le=60_000)
    # First-stage iPXE loaders (undionly.kpxe, snponly.efi, ipxe.efi), served
    # over TFTP and at /ipxe/<name>: Debian's ipxe package by default.
    loader_dir: Path = Path("/usr/lib/ipxe")
    dns_listen: str = ""
    dhcp_mode: DhcpMode | None = None
    dhcp_interface: str = ""
    # Authoritative DHCP leases from this subnet and pool (FIRST-LAST); CMDB
    # cluster networks add more (their pools in cluster setting dhcp_pools).
    dhcp_subnet: str = ""
    dhcp_pool: str = ""
    dhcp_router: str = ""
    # Comma-separated addresses.
    dhcp_dns: str = ""
    dhcp_ntp: str = ""
    dhcp_domain: str = ""
    dhcp_lease_seconds: int = Field(default=3600, ge=10, le=MAX_SECONDS)
    # How long an offered address is held for the client that was offered it.
    dhcp_offer_seconds: int = Field(default=60, ge=5, le=MAX_SECONDS)
    # How long an address a client declined (found in use) stays unused.
    dhcp_decline_seconds: int = Field(default=3600, ge=0, le=MAX_SECONDS)
    # TFTP server for first-stage loaders (siaddr, option 66); default: the
    # DHCP interface's own address.
    dhcp_next_server: str = ""
    # ProxyDHCP answer for UEFI PXE: "pixiecore" (no option 43, boot file on
    # port 4011) or "smee" (43.6=8); then ARCH=STYLE or VENDOR-PREFIX=STYLE
    # exceptions, comma-separated, e.g. "pixiecore,9=smee".
    dhcp_proxy_uefi: str = "pixiecore"
    # How often the DHCP service re-reads the CMDB and other servers' leases.
    dhcp_refresh_seconds: float = Field(default=5.0, gt=0, le=3600, allow_inf_nan=False)
    # DHCPv6 (bootsvc.core.dhcp6), apart from DHCPv4: its own mode and
    # interface; authoritative leases come from dhcp6_range inside
    # dhcp6_subnet (a /64 of the provisioning network).
    dhcp6_mode: DhcpMode | None = None
    dhcp6_interface: str = ""
    dhcp6_subnet: str = ""
    dhcp6_range: str = ""
    # Comma-separated IPv6 addresses (option 23).
    dhcp6_dns: str = ""
    # First-stage loader for UEFI x86: snponly.efi (uses the firmware's NIC
    # driver) or ipxe.efi (iPXE's own drivers).
    uefi_loader: str = "snponly.efi"
    # The Secure Boot chain as Debian ships it (shim-signed, grub-efi-amd64-signed),
    # served as shimx64.efi and grubx64.efi beside the iPXE loaders.
    shim_dir: Path = Path("/usr/lib/shim")
    grub_dir: Path = Path("/usr/lib/grub/x86_64-efi-signed")
    # ARM64 UEFI boots Debian's signed shim and network GRUB for arm64
    # (shim-signed:arm64, grub-efi-arm64-signed), served as shimaa64.efi and
    # grubaa64.efi: Debian ships no arm64 iPXE. An amd64 server unpacks the
    # arm64 packages (dpkg-deb -x) and points these at them.
    arm64_shim_dir: Path = Path("/usr/lib/shim")
    arm64_grub_dir: Path = Path("/usr/lib/grub/arm64-efi-signed")
    # Whether UEFI machines take the Secure Boot path when neither their node
    # nor their cluster says (`secure_boot`): the firmware does not tell.
    secure_boot: bool = False
    template_dir: Path | None = None
    # image@channel that unknown and unassigned machines boot; empty means they
    # are enlisted as `new` and exit to local boot until an admin accepts them.
    default_image: str = ""
    max_upload_bytes: int = Field(default=64 * 2**30, ge=1)
    # Any other request body larger than this is refused (413) before it is
    # read; a big node import may need more.
    http_max_body_bytes: int = Field(default=16 * 2**20, ge=2**10, le=2**40)
    # A node's facts and a boot report's details, measured as JSON: they are
    # kept whole and sent with every node listing.
    cmdb_max_facts_bytes: int = Field(default=MAX_FACTS_BYTES, ge=1, le=2**30)
    report_max_details_bytes: int = Field(default=16 * 2**10, ge=1, le=2**30)
    log_level: str = "info"

    # DNS. Names outside the fleet's zones go to these resolvers ("IP" or
    # "IP:port"), for clients in dns_forward_clients only; with none they are
    # REFUSED, so bootsvc is never an open resolver.
    dns_upstreams: list[str] = []
    dns_forward_clients: list[str] = [
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    ]
    dns_ttl: int = Field(default=60, le=MAX_SECONDS)
    # How stale a positive answer may be; negative answers always re-check.
    dns_refresh_ms: int = Field(default=1000, le=MAX_SECONDS)
    # Image builds (`bootsvc image build`, `bootsvc lab image`): the recipes
    # (default: images/ of this checkout or installation) and where builds
    # are cached (default: ~/.cache/bootsvc).
    image_recipes_dir: Path | None = None
    image_cache_dir: Path | None = None
    # `bootsvc lab`: where labs keep their state (default: DATA_DIR/lab), the
    # lab network, who answers DHCP and TFTP there (dnsmasq, or bootsvc
    # itself), and settings added to the lab's own bootsvc.
    lab_dir: Path | None = None
    lab_subnet: IPv4Network = IPv4Network("10.77.0.0/24")
    # The prefix of an IPv6-only lab (lab_dhcp_tftp = "bootsvc-ipv6").
    lab_subnet6: IPv6Network = IPv6Network("fd00:77::/64")
    lab_dhcp_tftp: LabDhcpTftp = LabDhcpTftp.BOOTSVC
    lab_server_settings: dict[str, Any] = {}

    # Node secrets are sealed in the database with the key in this file (made
    # on first use; default secrets.key in data_dir): servers sharing a
    # database share the file.
    secrets_key_file: Path | None = None
    # How long the one-time token in a node's iPXE script lets it fetch its
    # secrets: long enough to download its kernel and initrds first.
    secret_token_ttl_s: int = Field(default=600, le=3600)
    # Secrets and boot tokens go only to a node's own address (leased to its
    # MAC, or on its CMDB interfaces). On, they go without one: then anyone
    # who knows the node's MAC can take its secrets and report for it.
    secrets_without_address_check: bool = False

    # Rollouts. A cluster's own settings `rollout_canary` and
    # `rollout_max_unavailable` override the first two for that cluster.
    rollout_canary: int = Field(default=1, le=100_000)
    rollout_max_unavailable: int = Field(default=1, le=100_000)
    # Boots of the candidate without a healthy report, after which the node's
    # next boot falls back to its old version and the rollout stops.
    rollout_boot_attempts: int = Field(default=2, le=1000)
    # From fetching the candidate's script to its healthy report, at most.
    rollout_health_timeout_s: int = Field(default=900, le=MAX_SECONDS)
    # How often the rollout service looks for timeouts and finished waves.
    rollout_tick_s: float = Field(default=10.0, le=3600, allow_inf_nan=False)
    # `fleet status` lists a node as not heard from after this long without a
    # boot report or a poll from its agent.
    fleet_silent_after_s: int = Field(default=900, le=MAX_SECONDS)
    # The admin pages (/ui): a login lasts this long after the last page
    # loaded with it.
    ui_session_ttl_s: int = Field(default=8 * 3600, ge=60, le=MAX_SECONDS)
    # How often the node agent asks for its desired version, and how long it
    # waits for Pacemaker to move resources off its node before giving up.
    agent_interval_s: int = Field(default=120, le=MAX_SECONDS)
    agent_drain_timeout_s: int = Field(default=1800, le=MAX_SECONDS)

    # At most this many unregistered machines wait in state `new` (0: none):
    # more than a delivery of racks, too few for made-up MACs to bury the
    # fleet in the node list and DNS and DHCP views (core/cmdb/enlistment).
    enlist_max_new: int = Field(default=1000, ge=0, le=1_000_000)
    # Enlistments per source address and minute, after a burst: a machine
    # enlists once, a rack behind one relay a few at a time. Each server
    # process keeps its own count.
    enlist_rate_per_minute: int = Field(default=30, ge=1, le=1_000_000)
    enlist_burst: int = Field(default=10, ge=1, le=1_000_000)
    # A `new` node no admin touched and not heard from (no script request,
    # boot report or agent poll) for this long is deleted.
    enlist_new_expire_s: int = Field(default=86_400, ge=60, le=MAX_SECONDS)

    @field_validator(
        "rollout_canary",
        "rollout_boot_attempts",
        "rollout_max_unavailable",
        "rollout_health_timeout_s",
        "fleet_silent_after_s",
        "agent_interval_s",
        "agent_drain_timeout_s",
    )
    @classmethod
    def _rollout_counts(cls, value: int, info: ValidationInfo) -> int:
        least = 0 if info.field_name == "rollout_canary" else 1
        if value < least:
            raise ValueError(f"must be {least} or more")
        return value

    @field_validator("rollout_tick_s")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0")
        return value

    @field_validator("http_listen", "tftp_listen", "dns_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            parse_host_port(value)
        return value

    @field_validator("dns_upstreams", "dns_forward_clients", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("dns_upstreams")
    @classmethod
    def _upstreams(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_upstream(item)
        return value

    @field_validator("dns_forward_clients")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(item, strict=False)) for item in value]

    @field_validator("secret_token_ttl_s")
    @classmethod
    def _token_ttl(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be more than 0")
        return value

    @field_validator("dns_ttl", "dns_refresh_ms")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator("advertise_url", "advertise_url6")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("default_image")
    @classmethod
    def _image_channel(cls, value: str) -> str:
        if value and value.count("@") != 1:
            raise ValueError("must be IMAGE@CHANNEL")
        return value

    @field_validator("dhcp_subnet")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(ipaddress.IPv4Network(value, strict=True)) if value else value

    @field_validator("dhcp_router", "dhcp_next_server")
    @classmethod
    def _ipv4_address(cls, value: str) -> str:
        return str(ipaddress.IPv4Address(value)) if value else value

    @field_validator("dhcp_dns", "dhcp_ntp")
    @classmethod
    def _ipv4_list(cls, value: str) -> str:
        return ",".join(
            str(ipaddress.IPv4Address(item.strip())) for item in value.split(",") if item
        )

    @field_validator("dhcp_pool")
    @classmethod
    def _pool(cls, value: str) -> str:
        return _address_range(value, ipaddress.IPv4Address)

    @field_validator("dhcp6_subnet")
    @classmethod
    def _cidr6(cls, value: str) -> str:
        return str(ipaddress.IPv6Network(value, strict=True)) if value else value

    @field_validator("dhcp6_dns")
    @classmethod
    def _ipv6_list(cls, value: str) -> str:
        return ",".join(
            str(ipaddress.IPv6Address(item.strip())) for item in value.split(",") if item
        )

    @field_validator("dhcp6_range")
    @classmethod
    def _range6(cls, value: str) -> str:
        return _address_range(value, ipaddress.IPv6Address)

    @field_validator("dhcp_proxy_uefi")
    @classmethod
    def _proxy_rules(cls, value: str) -> str:
        parse_styles(value)
        return value

    @field_validator("uefi_loader")
    @classmethod
    def _uefi_loader(cls, value: str) -> str:
        if value not in LOADERS[1:]:
            raise ValueError("must be snponly.efi or ipxe.efi")
        return value

    @model_validator(mode="after")
    def _dhcp(self) -> Settings:
        if self.dhcp_mode in {DhcpMode.AUTHORITATIVE, DhcpMode.PROXY} and not self.dhcp_interface:
            raise ValueError(f"dhcp_mode {self.dhcp_mode} needs dhcp_interface")
        if self.dhcp_pool:
            if not self.dhcp_subnet:
                raise ValueError("dhcp_pool needs dhcp_subnet")
            subnet = ipaddress.IPv4Network(self.dhcp_subnet)
            if not all(ipaddress.IPv4Address(ip) in subnet for ip in self.dhcp_pool.split("-")):
                raise ValueError(f"dhcp_pool {self.dhcp_pool} is not inside {subnet}")
        return self

    @model_validator(mode="after")
    def _dhcp6(self) -> Settings:
        mode = self.dhcp6_mode
        if mode in {DhcpMode.AUTHORITATIVE, DhcpMode.PROXY} and not self.dhcp6_interface:
            raise ValueError(f"dhcp6_mode {mode} needs dhcp6_interface")
        if mode == DhcpMode.AUTHORITATIVE and not (self.dhcp6_subnet and self.dhcp6_range):
            raise ValueError("dhcp6_mode authoritative needs dhcp6_subnet and dhcp6_range")
        if self.dhcp6_range:
            if not self.dhcp6_subnet:
                raise ValueError("dhcp6_range needs dhcp6_subnet")
            subnet = ipaddress.IPv6Network(self.dhcp6_subnet)
            if not all(ipaddress.IPv6Address(ip) in subnet for ip in self.dhcp6_range.split("-")):
                raise ValueError(f"dhcp6_range {self.dhcp6_range} is not inside {subnet}")
        return self

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be debug, info, warning or error")
        return value.lower()

    @property
    def effective_lab_dir(self) -> Path:
        return self.lab_dir or self.data_dir / "lab"

    @property
    def effective_image_cache_dir(self) -> Path:
        return self.image_cache_dir or default_image_cache_dir()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'bootsvc.db'}"

    @property
    def effective_secrets_key_file(self) -> Path:
        return self.secrets_key_file or self.data_dir / "secrets.key"

    @property
    def http_address(self) -> tuple[str, int]:
        return parse_host_port(self.http_listen)

    @property
    def base_url(self) -> str:
        """The URL nodes use to reach this server. A wildcard listen address
        needs `advertise_url`, which bootsvc.serve.address fills from the
        interfaces when a process starts."""
        if self.advertise_url:
            return self.advertise_url
        host, port = self.http_address
        if host in WILDCARD_HOSTS:
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    @property
    def base_url6(self) -> str:
        """The URL nodes booting over IPv6 reach this server at; "" when
        none is known (they get `base_url`)."""
        if self.advertise_url6:
            return self.advertise_url6
        host = urlsplit(self.advertise_url).hostname or ""
        return self.advertise_url if ":" in host else ""

    @property
    def ipv6_prefix_length(self) -> int:
        """The on-link prefix a node booted over IPv6 configures its address
        with: dhcp6_subnet's (DHCPv6 gives a /128; the prefix is the router
        advertisement's), 64 without one."""
        return ipaddress.IPv6Network(self.dhcp6_subnet).prefixlen if self.dhcp6_subnet else 64


def _fields() -> set[str]:
    return set(Settings.model_fields)


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path}: {exc}") from exc
    except UnicodeDecodeError:
        raise SettingsError(f"settings file {path}: not UTF-8 text (TOML is UTF-8)") from None
    unknown = sorted(set(data) - _fields())
    if unknown:
        raise SettingsError(f"settings file {path}: unknown setting {unknown[0]!r}")
    return data


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    names = _fields()
    found: dict[str, Any] = {}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key.removeprefix(ENV_PREFIX).lower()
            if name in names:
                found[name] = value
    return found


def load_settings(
    config_file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {"data_dir": _default_data_dir()}
    sources: dict[str, str] = {}
    path = config_file or (
        Path(environ["BOOTSVC_CONFIG"]) if environ.get("BOOTSVC_CONFIG") else None
    )
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    if path is not None:
        file_values = _from_file(path)
        merged.update(file_values)
        sources.update(dict.fromkeys(file_values, f"settings file {path}"))
    env_values = _from_env(environ)
    merged.update(env_values)
    sources.update({key: f"{ENV_PREFIX}{key.upper()}" for key in env_values})
    flag_values = {key: value for key, value in (flags or {}).items() if value is not None}
    merged.update(flag_values)
    sources.update({key: f"--{key.replace('_', '-')}" for key in flag_values})
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        where = sources.get(name, name)
        raise SettingsError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None
