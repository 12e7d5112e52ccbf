"""Why a node's configuration cannot be rendered, said so that an admin can
fix it: which node, and which template and line or which setting."""

from __future__ import annotations

from typing import Any

from bootsvc.errors import BootsvcError


class Problem(Exception):
    """Raised while rendering, before the node and template are known; the
    renderer turns it into a ConfigError naming both. `setting` is the
    cluster setting or node fact at fault, when there is one."""

    def __init__(self, reason: str, setting: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.setting = setting


class ConfigError(BootsvcError):
    """The CMDB, the cluster settings and the templates do not make a
    configuration for this node. The node is held in the rescue script
    rather than booted half-configured."""

    status = 409
    code = "node-config"

    def __init__(
        self,
        node: str,
        reason: str,
        template: str | None = None,
        line: int | None = None,
        setting: str | None = None,
    ) -> None:
        where = []
        if template:
            where.append(f"template {template}" + (f" line {line}" if line else ""))
        if setting:
            where.append(f"setting {setting}")
        prefix = f"node {node}: " + (", ".join(where) + ": " if where else "")
        details: dict[str, Any] = {"node": node, "reason": reason}
        for key, value in (("template", template), ("line", line), ("setting", setting)):
            if value is not None:
                details[key] = value
        super().__init__(prefix + reason, **details)
        self.node = node
        self.reason = reason
        self.template = template
        self.line = line
        self.setting = setting
