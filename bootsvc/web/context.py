"""What every request handler needs, built once per process by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from bootsvc.core.boot.bootscript import BootSite
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    store: ArtifactStore
    site: BootSite


def services() -> Services:
    found: Services = current_app.extensions["bootsvc"]
    return found
