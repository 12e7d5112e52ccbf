"""The boot scripts: the generic /boot.ipxe every iPXE fetches first, and
each node's own script, rendered for the version the boot plan chose from
templates/ipxe/ for iPXE or templates/grub/ for the signed GRUB of the Secure
Boot path. One context, two renderings. Served over HTTP and TFTP alike."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from sqlalchemy.orm import Session

from bootsvc.core import render
from bootsvc.core.access import nodeaccess
from bootsvc.core.access.nodeaccess import Verdict
from bootsvc.core.attestation import registry as tpm_registry
from bootsvc.core.boot import bootingnode, bootplan, machinearch, reports, secureboot
from bootsvc.core.boot.bootingnode import BootingNode
from bootsvc.core.boot.bootplan import BootFile, BootPlan, NoBoot
from bootsvc.core.catalog import cmdline
from bootsvc.core.cmdb import disks, enlistment
from bootsvc.core.cmdb.enlistment import Enlistment
from bootsvc.core.nodeconfig import delivery, onetime
from bootsvc.core.nodeconfig.context import BootInfo, agent_values
from bootsvc.core.nodeconfig.problems import ConfigError
from bootsvc.errors import NotFound
from bootsvc.logs import event
from bootsvc.net.family import is_ipv6
from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.store.models import Node

# The kernel argument that hands a booted node its boot token.
BOOT_TOKEN_ARGUMENT = "bootsvc.token"  # noqa: S105 (a name, not a secret)
# The kernel argument that gives a node booted over IPv6 its address/prefix:
# its initramfs configures it instead of asking DHCP (IPv4) again.
IPV6_ARGUMENT = "bootsvc.ip6"
RETRY_DELAY_SECONDS = 5
MAX_ATTEMPTS = 10
# A node whose configuration does not render asks again this often.
RESCUE_RETRY_SECONDS = 60


# What the first script passes to bootsvc when it asks for the machine's own script.
_NODE_QUERY = (
    "mac=${mac:hexhyp}&uuid=${uuid}&serial=${serial:uristring}"
    "&asset=${asset:uristring}&arch=${buildarch}&platform=${platform}"
)
# iPXE (1.0.0+git-20190125, seen in QEMU) leaves a URI's query out of a TFTP
# request: over TFTP the MAC goes in the path.
TFTP_NODE_SCRIPT = "node/{mac}.ipxe"


def is_tftp(url: str) -> bool:
    return url.startswith("tftp://")


def server_path(url: str) -> str:
    """A URL as a path on the server the loader came from: what the signed
    GRUB, which speaks only TFTP, fetches."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def grub_quoted(text: str) -> str:
    """One GRUB word: single quotes keep $, ? and spaces as they are."""
    return "'" + text.replace("'", "'\\''") + "'"


_KERNEL_WORD = re.compile(r'(?:[^\s"]|"[^"]*")+')


def kernel_words(cmdline: str) -> list[str]:
    """The kernel's parameters as GRUB's `linux` must get them, one word
    each: GRUB wraps a word holding a space in double quotes (the kernel's
    own quoting of `name="a b"`), so a whole command line in one word would
    reach the kernel as a single parameter."""
    return [word.replace('"', "") for word in _KERNEL_WORD.findall(cmdline)]


@dataclass(frozen=True)
class ScriptFormat:
    """Which loader reads the script: its templates are
    templates/<name>/{node,noboot,rescue}.<suffix>.j2."""

    name: str
    suffix: str

    def template(self, kind: str) -> str:
        return f"{self.name}/{kind}.{self.suffix}.j2"


IPXE = ScriptFormat("ipxe", "ipxe")
GRUB = ScriptFormat("grub", "cfg")


@dataclass(frozen=True)
class BootSite:
    """What scripts need to know about this server. `base_url` is what the
    scripts' own URLs start with: http://... or, for iPXE builds without HTTP,
    tftp://...; `http_url` is where the booted system reaches bootsvc (boot
    reports, live root), when that differs from `base_url`."""

    base_url: str
    template_dir: Path | None
    default_image: str
    http_url: str = ""
    secret_token_ttl_s: int = 600
    # Secrets and boot tokens for a node whose address bootsvc cannot know
    # go to whoever fetches its script (bootsvc.core.access.nodeaccess).
    secrets_without_address_check: bool = False
    # Whether a machine the CMDB says nothing of has Secure Boot on.
    secure_boot: bool = False
    # The node agent's settings, for its files in the overlay.
    agent: Mapping[str, Any] = field(default_factory=agent_values, hash=False, compare=False)
    # The limits on enlisting unknown machines, with this process's rate buckets.
    enlistment: Enlistment = field(default_factory=Enlistment, hash=False, compare=False)
    # Where machines booting over IPv6 reach this server over HTTP ("" when
    # unknown: they get `base_url`), and the on-link prefix length they
    # configure their address with.
    base_url6: str = ""
    ipv6_prefix_length: int = 64

    @property
    def api_url(self) -> str:
        return self.http_url or self.base_url

    def for_client(self, ip: str | None) -> BootSite:
        """The site as the machine at `ip` reaches it: over IPv6 (not an
        IPv4-mapped address), every URL of its scripts names the IPv6 URL."""
        if not self.base_url6 or self.over_tftp or not is_ipv6(ip):
            return self
        return replace(self, base_url=self.base_url6, http_url="")

    @property
    def over_tftp(self) -> bool:
        return is_tftp(self.base_url)

    @classmethod
    def from_settings(cls, settings: Settings, scripts_url: str | None = None) -> BootSite:
        """The site as `settings` describe it; a service whose scripts point
        elsewhere than `base_url` (TFTP) gives that as `scripts_url`."""
        return cls(
            base_url=scripts_url or settings.base_url,
            template_dir=settings.template_dir,
            default_image=settings.default_image,
            http_url=settings.base_url if scripts_url else "",
            secret_token_ttl_s=settings.secret_token_ttl_s,
            secrets_without_address_check=settings.secrets_without_address_check,
            secure_boot=settings.secure_boot,
            agent=agent_values(settings),
            enlistment=Enlistment.from_settings(settings),
            base_url6=settings.base_url6,
            ipv6_prefix_length=settings.ipv6_prefix_length,
        )


@dataclass(frozen=True)
class Machine:
    """What iPXE tells us about the machine asking."""

    mac: str | None
    ip: str | None
    uuid: str | None = None
    serial: str | None = None
    asset: str | None = None
    arch: str | None = None
    platform: str | None = None

    def facts(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in (
                ("arch", self.arch),
                ("platform", self.platform),
                ("asset", self.asset),
            )
            if value
        }


@dataclass(frozen=True)
class NodeScript:
    text: str
    hostname: str | None
    node_id: int | None
    plan: BootPlan | NoBoot
    # The node's overlay and secrets, or why its configuration does not render.
    config: delivery.Delivery | ConfigError | None = None
    # Whether the script went to the node's own address.
    verdict: Verdict | None = None


def node_script_url(site: BootSite) -> str:
    """Where the first script fetches the machine's own script, in iPXE syntax."""
    if site.over_tftp:
        return f"{site.base_url}/{TFTP_NODE_SCRIPT.format(mac='${mac:hexhyp}')}"
    return f"{site.base_url}/boot/node.ipxe?{_NODE_QUERY}"


def first_script(site: BootSite) -> str:
    context = {"base_url": site.base_url, "node_script_url": node_script_url(site)}
    return render.render(site.template_dir, "ipxe/boot.ipxe.j2", context)


# What GRUB passes when it asks for the machine's own config: its CPU
# (x86_64, arm64), for the architecture check.
_GRUB_NODE_QUERY = "?arch=${grub_cpu}"


def first_grub_config(site: BootSite) -> str:
    node_config = "/" + secureboot.GRUB_NODE_CONFIG.format(mac="${net_default_mac}")
    node_config += _GRUB_NODE_QUERY
    return render.render(site.template_dir, "grub/boot.cfg.j2", {"node_config": node_config})


def script_url(site: BootSite, loader: ScriptFormat, machine: Machine) -> str:
    """Where the node's script is fetched again (retries, a fresh token)."""
    if loader is GRUB:
        url = "/" + secureboot.GRUB_NODE_CONFIG.format(mac=machine.mac or "${net_default_mac}")
        return f"{url}?{urlencode({'arch': machine.arch})}" if machine.arch else url
    return node_script_url(site)


def identify(session: Session, machine: Machine) -> BootingNode | None:
    return bootingnode.identify(session.connection(), machine.mac, machine.uuid, machine.serial)


def _enlist(db: Database, site: BootSite, machine: Machine, mac: str) -> str | None:
    """Record a first boot, unless the enlistment limits refuse it: then
    say why."""
    with db.write() as session:
        if identify(session, machine) is not None:
            return None
        outcome = enlistment.enlist_unknown(
            session,
            site.enlistment,
            mac,
            machine.facts(),
            "script",
            ip=machine.ip,
            uuid=machine.uuid,
            serial=machine.serial,
            asset_tag=machine.asset,
        )
    return outcome if isinstance(outcome, str) else None


def serve_node_script(
    db: Database, site: BootSite, machine: Machine, loader: ScriptFormat = IPXE
) -> NodeScript:
    """The script for the machine asking, enlisting it on its first boot
    (a refused machine boots nothing); a `new` node asking is heard from."""
    with db.read() as session:
        node = identify(session, machine)
        if node is not None or not machine.mac:
            if node is not None:
                enlistment.heard(db, session, node.id, node.state)
            return node_script(db, site, session, node, machine, loader=loader)
    refused = _enlist(db, site, machine, machine.mac)
    if refused:
        return _noboot(site, None, machine, NoBoot(refused), loader)
    with db.read() as session:
        found = identify(session, machine)
        return node_script(db, site, session, found, machine, loader=loader)


# Shown where a previewed script carries its secrets token: a preview mints none.
TOKEN_PLACEHOLDER = "PREVIEW-TOKEN"  # noqa: S105 (a placeholder, not a secret)


def preview_node_script(
    db: Database, site: BootSite, machine: Machine, loader: ScriptFormat = IPXE
) -> str:
    """The script the machine would get if it booted now, without what a
    boot does: no enlistment, no boot report, no stored token. An admin's
    look must not count as a boot attempt in the fleet status. NotFound for
    a machine the CMDB does not know (its first boot would enlist it)."""
    with db.read() as session:
        node = identify(session, machine)
        if node is None:
            raise NotFound(
                f"no node has MAC {machine.mac or '(none given)'}; its first boot would enlist it"
            )

        script = node_script(db, site, session, node, machine, preview=True, loader=loader)
    text = script.text
    if isinstance(script.config, delivery.Delivery):
        config = script.config
        for secret in (config.token.secret if config.token else None, config.boot_token):
            if secret:
                text = text.replace(secret, TOKEN_PLACEHOLDER)
    return text


def deliver_node_script(
    db: Database,
    site: BootSite,
    machine: Machine,
    log: logging.Logger,
    loader: ScriptFormat = IPXE,
) -> NodeScript:
    """The script for the machine asking, logged, and, when it went to the
    node's own address, recorded as the `script` stage of its boot (`failed`
    when its configuration does not render) with its tokens; the same over
    HTTP and TFTP."""
    script = serve_node_script(db, site, machine, loader)
    plan = script.plan
    where: dict[str, Any] = {
        "mac": machine.mac,
        "ip": machine.ip,
        "stage": "script",
        "node": script.hostname,
    }
    if isinstance(plan, NoBoot):
        where["stage"] = reports.REFUSED
        unrecorded = _record_refusal(db, site, machine, script.node_id, plan)
        event(log, "boot.noboot", reason=plan.reason, unrecorded=unrecorded, **where)
        return script
    details: dict[str, Any] = {"reason": plan.reason}
    if isinstance(script.config, ConfigError):
        # Held back in the rescue script: the reason goes to the log and to
        # a failed boot report, so the fleet status shows it.
        details = dict(script.config.details)
        where["stage"] = "failed"
        event(log, "boot.config_failed", logging.WARNING, error=script.config.message, **where)
    else:
        event(
            log,
            "boot.script",
            image=plan.image,
            version=plan.version,
            reason=plan.reason,
            arch=machine.arch,
            loader=loader.name,
            **where,
        )
    ip = script.verdict.ip if script.verdict else None
    node_id = script.node_id
    if ip is None or node_id is None:
        # Not the node's own address: no tokens, and nothing counts as its boot.
        reason = script.verdict.reason if script.verdict else "node unknown"
        event(log, "boot.secrets_withheld", logging.WARNING, reason=reason, **where)
        return script
    with db.write() as session:
        reports.record(
            session,
            where["stage"],
            machine.mac,
            machine.ip,
            version_id=plan.version_id,
            node_id=script.node_id,
            details=details,
        )
        config = script.config
        if isinstance(config, delivery.Delivery):
            if config.token is not None:
                onetime.store(session, config.token)
            if config.boot_token is not None:
                nodeaccess.store_boot_token(session, node_id, config.boot_token, ip)
    return script


def _record_refusal(
    db: Database, site: BootSite, machine: Machine, node_id: int | None, plan: NoBoot
) -> str | None:
    """Record a script that boots nothing as the node's boot report, so that
    its status says why it did not boot; only when the script went to the
    node's own address, since anyone can name a MAC. Why not, when not."""
    if node_id is None:
        return "node unknown"
    with db.write() as session:
        if session.get(Node, node_id) is None:
            return "node unknown"
        verdict = nodeaccess.verify(
            session, node_id, machine.mac, machine.ip, site.secrets_without_address_check
        )
        if not verdict.verified:
            return verdict.reason
        reports.record(
            session,
            reports.REFUSED,
            machine.mac,
            machine.ip,
            node_id=node_id,
            version_id=plan.version_id,
            details={"reason": plan.reason},
        )
    return None


def artifact_url(base_url: str, file: BootFile, mac: str | None = None) -> str:
    """The MAC rides along for the HTTP log; a TFTP request cannot carry it."""
    url = f"{base_url}/artifacts/{file.sha256}/{quote(file.name)}"
    if mac and not is_tftp(base_url):
        return f"{url}?{urlencode({'mac': mac}, safe=':')}"
    return url


def kernel_cmdline(
    site: BootSite,
    plan: BootPlan,
    node: BootingNode,
    mac: str | None,
    ip: str | None,
    extra_initrds: tuple[str, ...] = (),
    boot_token: str | None = None,
    attest: bool = False,
) -> str:
    """`attest`: the node's initramfs fetches its secrets sealed to its TPM."""
    values = {
        "base_url": site.api_url,
        "image": plan.image,
        "version": plan.version,
        "hostname": node.hostname,
        "mac": mac or "",
        "ip": ip or "",
        "cluster": node.cluster_name or "",
    }
    if plan.rootfs is not None:
        values["rootfs_url"] = artifact_url(site.api_url, plan.rootfs)
    parts = [cmdline.render(plan.cmdline_template, values)]
    # UEFI iPXE hands initrds to the kernel's EFI stub by name; BIOS ignores these.
    parts += [f"initrd={name}" for name in (*(i.name for i in plan.initrds), *extra_initrds)]
    if mac:
        parts.append("BOOTIF=01-" + mac.replace(":", "-"))
    parts.append(f"{disks.ARGUMENT}={disks.consent(node.reset_id, node.disks)}")
    parts.append(f"bootsvc.url={site.api_url}")
    if boot_token:
        parts.append(f"{BOOT_TOKEN_ARGUMENT}={boot_token}")
    if ip and is_ipv6(ip):
        parts.append(f"{IPV6_ARGUMENT}={ip}/{site.ipv6_prefix_length}")
    if attest:
        parts.append(f"{tpm_registry.ARGUMENT}=1")
    return " ".join(part for part in parts if part)


def _noboot(
    site: BootSite,
    node: BootingNode | None,
    machine: Machine,
    plan: NoBoot,
    loader: ScriptFormat = IPXE,
) -> NodeScript:
    context: dict[str, Any] = {"reason": plan.reason, "mac": machine.mac or "?"}
    if node is not None:
        context["hostname"] = node.hostname
    context["quoted"] = grub_quoted
    text = render.render(site.template_dir, loader.template("noboot"), context)
    return NodeScript(text, node.hostname if node else None, node.id if node else None, plan)


_IPXE_UNSAFE = re.compile(r"[^A-Za-z0-9 .,:;/_=()'+@-]")


def _rescue(
    site: BootSite,
    node: BootingNode,
    machine: Machine,
    plan: BootPlan,
    failure: ConfigError,
    verdict: Verdict,
    loader: ScriptFormat,
) -> NodeScript:
    """Hold the node in iPXE, saying why, and ask again now and then: it
    boots by itself once the CMDB, settings or templates are fixed."""
    context = {
        "hostname": node.hostname,
        "mac": machine.mac or "?",
        # iPXE would expand ${...} and split at || in an echoed message.
        "reason": _IPXE_UNSAFE.sub(" ", failure.message)[:400],
        "retry_delay": RESCUE_RETRY_SECONDS,
        "script_url": script_url(site, loader, machine),
        "quoted": grub_quoted,
    }
    text = render.render(site.template_dir, loader.template("rescue"), context)
    return NodeScript(text, node.hostname, node.id, plan, failure, verdict)


def node_script(
    db: Database,
    site: BootSite,
    session: Session,
    node: BootingNode | None,
    machine: Machine,
    preview: bool = False,
    loader: ScriptFormat = IPXE,
) -> NodeScript:
    """An admin's `preview` shows the script as the node would get it from
    its own address; a machine asking over IPv6 gets IPv6 URLs."""
    site = site.for_client(machine.ip)
    if node is None:
        unknown = NoBoot("machine is unknown and sent no MAC address")
        return _noboot(site, None, machine, unknown, loader)
    plan = bootplan.resolve(session, node, site.default_image)
    if not isinstance(plan, NoBoot):
        plan = machinearch.wrong_architecture(plan, machine.arch) or plan
    if (
        not isinstance(plan, NoBoot)
        and loader is GRUB
        and secureboot.needs_signed_kernel(node, machine.arch, site.secure_boot)
    ):
        plan = secureboot.unsigned_kernel(plan) or plan
    if isinstance(plan, NoBoot):
        return _noboot(site, node, machine, plan, loader)
    boot = BootInfo(site.api_url, machine.mac, plan.image, plan.version)
    if preview:
        verdict = Verdict(machine.ip or "preview", "preview")
    else:
        verdict = nodeaccess.verify(
            session, node.id, machine.mac, machine.ip, site.secrets_without_address_check
        )
    sealed = tpm_registry.sealed_reason(session, node.id, node.facts)
    try:
        config = delivery.prepare(
            db,
            site.template_dir,
            site.agent,
            boot,
            node.id,
            node.hostname,
            verdict,
            site.secret_token_ttl_s,
            session,
            sealed,
        )
    except ConfigError as exc:
        return _rescue(site, node, machine, plan, exc, verdict, loader)
    report = {"mac": machine.mac or "", "image": plan.image, "version": plan.version}
    # GRUB fetches artifacts over TFTP, whose file names carry no query.
    logged_mac = machine.mac if loader is IPXE else None
    if config.boot_token:
        report["token"] = config.boot_token
    context = {
        "base_url": site.base_url,
        "hostname": node.hostname,
        "mac": machine.mac or "",
        "plan": plan,
        "kernel": {
            "name": plan.kernel.name,
            "url": artifact_url(site.base_url, plan.kernel, logged_mac),
        },
        "initrds": [
            {"name": initrd.name, "url": artifact_url(site.base_url, initrd, logged_mac)}
            for initrd in plan.initrds
        ],
        "cmdline": kernel_cmdline(
            site,
            plan,
            node,
            machine.mac,
            machine.ip,
            config.extra_initrds,
            config.boot_token,
            attest=sealed is not None,
        ),
        "config": config,
        "script_url": script_url(site, loader, machine),
        "report_url": f"{site.api_url}/boot/report?{urlencode(report, safe=':')}",
        "withheld": _IPXE_UNSAFE.sub(" ", config.withheld)[:200],
        "retry_delay": RETRY_DELAY_SECONDS,
        "max_attempts": MAX_ATTEMPTS,
        "path": server_path,
        "quoted": grub_quoted,
        "kernel_words": kernel_words,
    }
    text = render.render(site.template_dir, loader.template("node"), context)
    return NodeScript(text, node.hostname, node.id, plan, config, verdict)
