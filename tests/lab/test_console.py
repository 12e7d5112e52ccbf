from __future__ import annotations

from pathlib import Path

from bootsvc.lab.console import Follower, parse, printable, wait_for_boots

BOOT_1 = (
    "\x1b[2J\x1b[01;01HSeaBIOS\r\n"
    "BOOTSVC-LAB-UP image=busybox-test version=1 mac=52:54:00:00:00:01 ip=10.77.0.9 report=ok\r\n"
    "BOOTSVC-LAB-FILE-BEGIN /etc/hostname\r\n"
    "node-1\r\n"
    "BOOTSVC-LAB-FILE-END /etc/hostname\r\n"
    "BOOTSVC-LAB-FILE-BEGIN /etc/hosts\n"
    "127.0.0.1 localhost\n"
    "\n"
    "10.0.0.1 node-1\n"
    "BOOTSVC-LAB-FILE-END /etc/hosts\n"
    "BOOTSVC-LAB-READY mac=52:54:00:00:00:01\n"
)
BOOT_2 = (
    "[    0.000000] Linux version 6.1.0\n"
    "BOOTSVC-LAB-UP image=busybox-test version=2 mac=52:54:00:00:00:01 ip=10.77.0.9\n"
    "BOOTSVC-LAB-READY mac=52:54:00:00:00:01\n"
)


def test_parse_reads_each_boot_with_its_fields_and_files() -> None:
    first, second = parse(BOOT_1 + BOOT_2)
    assert first.fields == {
        "image": "busybox-test",
        "version": "1",
        "mac": "52:54:00:00:00:01",
        "ip": "10.77.0.9",
        "report": "ok",
    }
    assert first.files == {
        "/etc/hostname": "node-1\n",
        "/etc/hosts": "127.0.0.1 localhost\n\n10.0.0.1 node-1\n",
    }
    assert second.fields["version"] == "2"
    assert second.files == {}


def test_a_boot_counts_only_once_it_is_ready() -> None:
    cut = BOOT_1.index("BOOTSVC-LAB-READY")
    assert parse(BOOT_1[:cut]) == []
    assert len(parse(BOOT_1)) == 1


def test_printable_drops_terminal_control_sequences() -> None:
    assert printable("\x1b[2J\x1b[01;01H\x1b[=3h\x1b[0;1miPXE\x1b[0m ok\r\n") == "iPXE ok\n"


def test_wait_follows_a_growing_console(tmp_path: Path) -> None:
    console = tmp_path / "console.log"
    follower = Follower(console)
    assert wait_for_boots(follower, 1, timeout=0.0) == []
    console.write_text(BOOT_1)
    seen: list[str] = []
    assert len(wait_for_boots(follower, 1, timeout=1.0, echo=seen.append)) == 1
    with console.open("a") as handle:
        handle.write(BOOT_2)
    boots = wait_for_boots(follower, 2, timeout=1.0, echo=seen.append)
    assert [b.fields["version"] for b in boots] == ["1", "2"]
    assert "".join(seen) == BOOT_1 + BOOT_2


def test_wait_stops_when_the_vm_is_gone(tmp_path: Path) -> None:
    console = tmp_path / "console.log"
    console.write_text(BOOT_2)
    boots = wait_for_boots(Follower(console), 5, timeout=60.0, alive=lambda: False)
    assert len(boots) == 1
