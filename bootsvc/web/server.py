"""The production HTTP server: gunicorn, embedded.

gthread workers keep many slow firmware connections open with few threads,
and gunicorn answers wsgi.file_wrapper bodies with os.sendfile. Flask's
development server does neither.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from bootsvc.logs import LogfmtFormatter, event, setup_logging
from bootsvc.metrics import processes
from bootsvc.serve.gcpolicy import quiet_garbage_collector
from bootsvc.settings import Settings

log = logging.getLogger("bootsvc.http")


class LogfmtGunicornLogger(Logger):  # type: ignore[misc]
    """gunicorn's own lines (worker starts and exits) in our log format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(LogfmtFormatter())


def _worker_ready(worker: Any) -> None:
    """gunicorn's post_worker_init: the worker has loaded the application
    and serves nothing yet, so what it holds now is what it keeps."""
    event(log, "http.worker.ready", pid=worker.pid, frozen=quiet_garbage_collector())


def _worker_exited(_arbiter: Any, worker: Any) -> None:
    """gunicorn's child_exit, in the master: a replaced worker's live gauges go."""
    processes.process_ended(worker.pid)


class HttpServer(BaseApplication):  # type: ignore[misc]
    """gunicorn uses sendfile unless told not to; the `sendfile` setting is
    left alone, because setting it to anything (even True) disables it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        host, port = self.settings.http_address
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        options: dict[str, Any] = {
            "bind": [bind],
            "worker_class": "gthread",
            "workers": self.settings.http_workers,
            "threads": self.settings.http_threads,
            "timeout": 120,
            "graceful_timeout": 10,
            "keepalive": 75,
            "accesslog": None,
            "loglevel": self.settings.log_level,
            "logger_class": LogfmtGunicornLogger,
            "proc_name": "bootsvc-http",
            "post_worker_init": _worker_ready,
            "child_exit": _worker_exited,
        }
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn 25.1+ opens a control socket in $HOME by default; two
            # boot servers on one host would fight over it, and we do not use it.
            options["control_socket_disable"] = True
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from bootsvc.web.app import create_app

        setup_logging(self.settings.log_level)
        return create_app(self.settings)


def run(settings: Settings) -> None:
    HttpServer(settings).run()
