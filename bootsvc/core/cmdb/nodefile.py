"""Bulk node files: CSV, YAML or JSON, parsed into node records.

CSV has one row per interface; rows sharing a hostname (or a serial) make one
node. YAML and JSON hold a list of node records, or {"nodes": [...]}.
Any bad row refuses the whole file, naming the row.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from bootsvc.core.cmdb.documents import load_json, load_yaml
from bootsvc.core.cmdb.records import NodeRecord, parse
from bootsvc.errors import InvalidInput

FORMATS = ("csv", "yaml", "json")
CSV_COLUMNS = (
    "hostname",
    "mac",
    "ip",
    "interface",
    "vlan",
    "serial",
    "asset_tag",
    "uuid",
    "cluster",
    "roles",
    "image",
    "state",
)
_NODE_COLUMNS = ("hostname", "serial", "asset_tag", "uuid", "cluster", "roles", "image", "state")
_MAX_RECORDS = 100_000


def format_for(filename: str | None, content_type: str | None) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    by_type = {
        "text/csv": "csv",
        "application/yaml": "yaml",
        "application/x-yaml": "yaml",
        "text/yaml": "yaml",
        "application/json": "json",
    }
    if kind in by_type:
        return by_type[kind]
    suffix = (filename or "").rsplit(".", 1)[-1].lower()
    if suffix in {"csv", "json"}:
        return suffix
    if suffix in {"yaml", "yml"}:
        return "yaml"
    raise InvalidInput("cannot tell the file format: use a .csv, .yaml or .json file")


def _structured(data: Any) -> list[NodeRecord]:
    if isinstance(data, dict) and "nodes" in data:
        data = data["nodes"]
    if not isinstance(data, list):
        raise InvalidInput("expected a list of nodes, or an object with a 'nodes' list")
    if len(data) > _MAX_RECORDS:
        raise InvalidInput(f"at most {_MAX_RECORDS} nodes per import")
    return [parse(NodeRecord, item, prefix=f"node {n}: ") for n, item in enumerate(data, 1)]


def _interface(row: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {"mac": row["mac"]}
    if row.get("ip"):
        item["ip"] = row["ip"]
    if row.get("interface"):
        item["name"] = row["interface"]
    if row.get("vlan"):
        item["vlan"] = row["vlan"]
    return item


def _csv(text: str) -> list[NodeRecord]:
    # Spreadsheets save CSV with a byte order mark first.
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    columns = [name.strip() for name in reader.fieldnames or []]
    twice = sorted({name for name in columns if columns.count(name) > 1})
    if twice:
        raise InvalidInput(f"CSV column {twice[0]!r} appears twice")
    unknown = sorted(set(columns) - set(CSV_COLUMNS))
    if unknown:
        raise InvalidInput(f"unknown CSV column {unknown[0]!r}; known: {', '.join(CSV_COLUMNS)}")
    if "mac" not in columns and "serial" not in columns:
        raise InvalidInput("CSV needs a 'mac' or a 'serial' column")
    grouped: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(reader, start=2):
        if None in raw:
            raise InvalidInput(f"line {number}: more cells than columns")
        row = {key.strip(): (value or "").strip() for key, value in raw.items()}
        key = row.get("hostname") or row.get("serial") or row.get("mac")
        if not key:
            raise InvalidInput(f"line {number}: needs a hostname, serial or mac")
        record = grouped.setdefault(key, {"interfaces": [], "_line": number})
        for column in _NODE_COLUMNS:
            if row.get(column):
                if column in record and record[column] != row[column]:
                    raise InvalidInput(
                        f"line {number}: {column} {row[column]!r} differs from "
                        f"{record[column]!r} on line {record['_line']} for the same node"
                    )
                record[column] = row[column]
        if row.get("mac"):
            record["interfaces"].append(_interface(row))
    if len(grouped) > _MAX_RECORDS:
        raise InvalidInput(f"at most {_MAX_RECORDS} nodes per import")
    return [
        parse(
            NodeRecord,
            {k: v for k, v in record.items() if k != "_line"},
            f"line {record['_line']}: ",
        )
        for record in grouped.values()
    ]


def parse_nodes(text: str, fmt: str) -> list[NodeRecord]:
    if fmt == "csv":
        try:
            return _csv(text)
        except csv.Error as exc:
            raise InvalidInput(f"not valid CSV: {exc}") from None
    data = load_json(text, "file") if fmt == "json" else load_yaml(text, "file")
    return _structured(data)
