from __future__ import annotations

from pathlib import Path

import pytest

from bootsvc.core.cmdb.documents import load_json, load_yaml, read_text
from bootsvc.errors import InvalidInput

_LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefg", "bcdefgh", strict=True)
)


def test_an_alias_bomb_is_refused_before_anything_walks_it() -> None:
    with pytest.raises(InvalidInput, match="YAML aliases expand to too many values"):
        load_yaml("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + _LAUGHS, "nodes.yaml")


def test_aliases_used_as_shared_defaults_are_fine() -> None:
    text = "defaults: &d {roles: [hv], cluster: c1}\nnodes:\n" + "".join(
        f"- {{<<: *d, hostname: hv{n}}}\n" for n in range(200)
    )
    data = load_yaml(text, "nodes.yaml")
    assert len(data["nodes"]) == 200 and data["nodes"][199]["cluster"] == "c1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 3000, "nested too deeply"),
        ('{"a": ' * 3000, "nested too deeply"),
        ("1" * 5000, "not valid JSON"),
        (b'{"a": "\xff"}', "not UTF-8 text"),
        ("{'single': 1}", "not valid JSON"),
    ],
)
def test_json_failures_are_input_errors(text: str | bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=f"^body: {message}"):
        load_json(text, "body")


def test_unreadable_files_are_input_errors(tmp_path: Path) -> None:
    binary = tmp_path / "nodes.csv"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(InvalidInput, match=r"nodes\.csv: not UTF-8 text"):
        read_text(binary)
    with pytest.raises(InvalidInput, match="Is a directory"):
        read_text(tmp_path)
    with pytest.raises(InvalidInput, match="No such file"):
        read_text(tmp_path / "missing.yaml")
