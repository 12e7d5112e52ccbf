"""A node's secret files: which it gets (by cluster and role), made from
secrets generated once and kept, sealed, in the database.

- every node: its SSH host keys, made for it on first boot and kept, so a
  reboot does not change them;
- members of a corosync cluster: /etc/corosync/authkey, one per cluster;
- Ceph: client.admin only on `ceph-admin` nodes; on `ceph-mon` nodes the
  monitors' keyring, with every key the monitors must know from the start
  (mon., client.admin, bootstrap-osd, client.libvirt); bootstrap-osd on
  `ceph-osd` nodes, and a client.libvirt key on `hypervisor` nodes.

Secrets are generated outside any transaction (an RSA key takes a while)
and stored under a lock on their owner's row, so two servers racing on one
node's first boot keep the same secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from bootsvc.core.nodeconfig import keys
from bootsvc.core.nodeconfig.context import NodeContext
from bootsvc.core.nodeconfig.files import NodeFile
from bootsvc.core.nodeconfig.templating import Templates
from bootsvc.core.nodeconfig.vault import Vault
from bootsvc.errors import SettingsError
from bootsvc.store.db import Database
from bootsvc.store.models import Cluster, ClusterSecret, Node, NodeSecret

KEYRING_TEMPLATE = "secrets/ceph.keyring.j2"

# What each Ceph entity may do, as Ceph's own bootstrap gives them.
CEPH_CAPS: dict[str, tuple[tuple[str, str], ...]] = {
    "mon.": (("mon", "allow *"),),
    "client.admin": (
        ("mon", "allow *"),
        ("osd", "allow *"),
        ("mds", "allow *"),
        ("mgr", "allow *"),
    ),
    "client.bootstrap-osd": (("mon", "profile bootstrap-osd"), ("mgr", "allow r")),
    "client.libvirt": (("mon", "profile rbd"), ("osd", "profile rbd pool={pool}")),
}

# A monitor's store is made from this keyring: the keys in it are the ones
# the cluster knows when it first forms.
MON_KEYRING = ("mon.", "client.admin", "client.bootstrap-osd", "client.libvirt")
BOOTSTRAP_OSD = ("client.bootstrap-osd",)

GENERATORS: dict[str, Callable[[], bytes]] = {
    "corosync/authkey": keys.corosync_authkey,
    **{f"ceph/{entity}": keys.ceph_key for entity in CEPH_CAPS},
    **{f"ssh/{kind}": partial(keys.ssh_host_key, kind) for kind in keys.SSH_HOST_KEY_TYPES},
}


def _is_node_secret(name: str) -> bool:
    return name.startswith("ssh/")


@dataclass(frozen=True)
class SecretFile:
    """A file made from stored secrets: the secret itself, a Ceph keyring of
    `entities`, or the public half of an SSH host key."""

    path: str
    mode: int
    secrets: tuple[str, ...]
    keyring: tuple[str, ...] = field(default=())
    public: bool = False


def secret_files(ctx: NodeContext) -> list[SecretFile]:
    node = ctx.node
    found = []
    for kind in keys.SSH_HOST_KEY_TYPES:
        path = f"/etc/ssh/ssh_host_{kind}_key"
        found.append(SecretFile(path, 0o600, (f"ssh/{kind}",)))
        found.append(SecretFile(f"{path}.pub", 0o644, (f"ssh/{kind}",), public=True))
    if ctx.corosync is not None:
        found.append(SecretFile("/etc/corosync/authkey", 0o400, ("corosync/authkey",)))
    if ctx.ceph is not None:
        keyrings: list[tuple[str, tuple[str, ...]]] = []
        if node.has_role("ceph-admin"):
            keyrings.append(("/etc/ceph/ceph.client.admin.keyring", ("client.admin",)))
        if node.has_role("ceph-mon"):
            keyrings.append(("/etc/ceph/ceph.mon.keyring", MON_KEYRING))
        if node.has_role("ceph-osd"):
            # Not under /var/lib/ceph, which the state partition covers:
            # bootsvc-ceph puts it where ceph-volume looks.
            keyrings.append(("/etc/ceph/ceph.client.bootstrap-osd.keyring", BOOTSTRAP_OSD))
        if node.has_role("hypervisor"):
            keyrings.append(("/etc/ceph/ceph.client.libvirt.keyring", ("client.libvirt",)))
        for path, entities in keyrings:
            names = tuple(f"ceph/{entity}" for entity in entities)
            found.append(SecretFile(path, 0o600, names, keyring=entities))
    return found


# Built once: every secrets request reads them.
_NODE_SECRETS = select(NodeSecret.name, NodeSecret.sealed).where(
    NodeSecret.node_id == bindparam("node_id")
)
_CLUSTER_SECRETS = select(ClusterSecret.name, ClusterSecret.sealed).where(
    ClusterSecret.cluster_id == bindparam("cluster_id")
)


class SecretStore:
    def __init__(self, db: Database, vault: Vault) -> None:
        self.db = db
        self.vault = vault

    @staticmethod
    def _context(name: str, cluster_id: int | None, node_id: int) -> str:
        if _is_node_secret(name):
            return f"node/{node_id}/{name}"
        return f"cluster/{cluster_id}/{name}"

    def _stored(
        self, reading: Session | Connection, cluster_id: int | None, node_id: int
    ) -> dict[str, bytes]:
        rows = list(reading.execute(_NODE_SECRETS, {"node_id": node_id}))
        if cluster_id is not None:
            rows += reading.execute(_CLUSTER_SECRETS, {"cluster_id": cluster_id})
        return dict(rows)

    def key_problem(self) -> str | None:
        """Why this server's key cannot open the secrets other servers sealed
        in the database (tried on the newest one); None when it can."""
        with self.db.read() as session:
            node = session.execute(
                select(NodeSecret.node_id, NodeSecret.name, NodeSecret.sealed)
                .order_by(NodeSecret.created_at.desc())
                .limit(1)
            ).first()
            cluster = session.execute(
                select(ClusterSecret.cluster_id, ClusterSecret.name, ClusterSecret.sealed)
                .order_by(ClusterSecret.created_at.desc())
                .limit(1)
            ).first()
        tries = [(self._context(node[1], None, node[0]), node[2])] if node else []
        tries += [(self._context(cluster[1], cluster[0], 0), cluster[2])] if cluster else []
        for context, sealed in tries:
            try:
                self.vault.open(sealed, context)
            except SettingsError as exc:
                return exc.message
        return None

    def load(self, cluster_id: int | None, node_id: int, names: set[str]) -> dict[str, bytes]:
        """The named secrets in the clear, made first if they do not exist."""
        sealed = self.db.read_statements(lambda reading: self._stored(reading, cluster_id, node_id))
        missing = names - set(sealed)
        if missing:
            fresh = {name: GENERATORS[name]() for name in sorted(missing)}
            with self.db.write() as session:
                session.execute(select(Node.id).where(Node.id == node_id).with_for_update())
                if cluster_id is not None:
                    session.execute(
                        select(Cluster.id).where(Cluster.id == cluster_id).with_for_update()
                    )
                sealed = self._stored(session, cluster_id, node_id)
                for name, value in fresh.items():
                    if name in sealed:
                        continue
                    box = self.vault.seal(value, self._context(name, cluster_id, node_id))
                    if _is_node_secret(name):
                        session.add(NodeSecret(node_id=node_id, name=name, sealed=box))
                    else:
                        session.add(ClusterSecret(cluster_id=cluster_id, name=name, sealed=box))
                    sealed[name] = box
        return {
            name: self.vault.open(sealed[name], self._context(name, cluster_id, node_id))
            for name in names
        }


def _keyring(
    templates: Templates, ctx: NodeContext, spec: SecretFile, plain: dict[str, bytes]
) -> bytes:
    pool = ctx.ceph.libvirt_pool if ctx.ceph is not None else "rbd"
    entities = [
        {
            "name": entity,
            "key": plain[f"ceph/{entity}"].decode(),
            "caps": [(kind, cap.format(pool=pool)) for kind, cap in CEPH_CAPS[entity]],
        }
        for entity in spec.keyring
    ]
    context = {"node": ctx.node, "entities": entities}
    return templates.render(ctx.node.hostname, KEYRING_TEMPLATE, context).encode()


def render(templates: Templates, ctx: NodeContext, store: SecretStore) -> list[NodeFile]:
    """The node's secret files, secrets made on first use."""
    specs = secret_files(ctx)
    names = {name for spec in specs for name in spec.secrets}
    cluster_id = ctx.cluster.id if ctx.cluster is not None else None
    plain = store.load(cluster_id, ctx.node.id, names)
    found = []
    for spec in specs:
        if spec.keyring:
            content = _keyring(templates, ctx, spec, plain)
        elif spec.public:
            content = keys.ssh_public_line(plain[spec.secrets[0]], f"root@{ctx.node.hostname}")
        else:
            content = plain[spec.secrets[0]]
        found.append(NodeFile(spec.path, spec.mode, (0, 0), content))
    return found
