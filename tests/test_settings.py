from __future__ import annotations

from pathlib import Path

import pytest

from bootsvc.errors import SettingsError
from bootsvc.settings import DhcpMode, load_settings


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "bootsvc.toml"
    config.write_text(
        'data_dir = "/srv/a"\nhttp_listen = "10.0.0.1:80"\nadvertise_url = "http://boot/"\n'
    )
    env = {
        "BOOTSVC_HTTP_LISTEN": "10.0.0.2:81",
        "BOOTSVC_DHCP_MODE": "proxy",
        "BOOTSVC_DHCP_INTERFACE": "eth9",
        "OTHER": "x",
    }
    settings = load_settings(config, {"http_listen": "10.0.0.3:82", "data_dir": None}, env)
    assert settings.data_dir == Path("/srv/a")
    assert settings.http_address == ("10.0.0.3", 82)
    assert settings.dhcp_mode is DhcpMode.PROXY
    assert settings.base_url == "http://boot"
    assert settings.effective_database_url == "sqlite:////srv/a/bootsvc.db"


def test_request_sizes_are_bounded_by_default(tmp_path: Path) -> None:
    settings = load_settings(None, {"data_dir": tmp_path}, {"BOOTSVC_CMDB_MAX_FACTS_BYTES": "4096"})
    assert settings.cmdb_max_facts_bytes == 4096
    assert settings.report_max_details_bytes == 16 * 2**10
    assert settings.http_max_body_bytes == 16 * 2**20


def test_network_services_are_off_unless_set(tmp_path: Path) -> None:
    settings = load_settings(None, {"data_dir": tmp_path}, {})
    assert (settings.tftp_listen, settings.dns_listen, settings.dhcp_mode) == ("", "", None)
    assert settings.http_listen == "0.0.0.0:8080"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BOOTSVC_HTTP_LISTEN": "nowhere"}, "BOOTSVC_HTTP_LISTEN: 'nowhere' is not host:port"),
        ({"BOOTSVC_HTTP_LISTEN": ":8³"}, "BOOTSVC_HTTP_LISTEN: ':8³' is not host:port"),
        ({"BOOTSVC_DHCP_MODE": "loud"}, "BOOTSVC_DHCP_MODE"),
        ({"BOOTSVC_ADVERTISE_URL": "ftp://x"}, "must start with http://"),
        ({"BOOTSVC_DEFAULT_IMAGE": "hv"}, "IMAGE@CHANNEL"),
        # Past what timedelta, DNS and DHCP take: a crash at first use before.
        ({"BOOTSVC_FLEET_SILENT_AFTER_S": "9" * 20}, "FLEET_SILENT_AFTER_S: .* 2147483647"),
        ({"BOOTSVC_DNS_TTL": str(2**32)}, "BOOTSVC_DNS_TTL: .* 2147483647"),
        ({"BOOTSVC_DHCP_LEASE_SECONDS": str(2**32)}, "BOOTSVC_DHCP_LEASE_SECONDS"),
        ({"BOOTSVC_ROLLOUT_TICK_S": "inf"}, "BOOTSVC_ROLLOUT_TICK_S: .* finite"),
        ({"BOOTSVC_DHCP_REFRESH_SECONDS": "nan"}, "BOOTSVC_DHCP_REFRESH_SECONDS: .* finite"),
        ({"BOOTSVC_HTTP_WORKERS": "0"}, "BOOTSVC_HTTP_WORKERS: .* greater than or equal to 1"),
        ({"BOOTSVC_ROLLOUT_BOOT_ATTEMPTS": str(2**31)}, "BOOTSVC_ROLLOUT_BOOT_ATTEMPTS"),
        ({"BOOTSVC_ENLIST_MAX_NEW": "-1"}, "BOOTSVC_ENLIST_MAX_NEW: .* greater than or equal to 0"),
        ({"BOOTSVC_ENLIST_RATE_PER_MINUTE": "0"}, "BOOTSVC_ENLIST_RATE_PER_MINUTE: .* 1"),
        ({"BOOTSVC_ENLIST_BURST": "0"}, "BOOTSVC_ENLIST_BURST: .* 1"),
        ({"BOOTSVC_ENLIST_NEW_EXPIRE_S": "5"}, "BOOTSVC_ENLIST_NEW_EXPIRE_S: .* 60"),
        ({"BOOTSVC_HTTP_MAX_BODY_BYTES": "100"}, "BOOTSVC_HTTP_MAX_BODY_BYTES: .* 1024"),
        ({"BOOTSVC_CMDB_MAX_FACTS_BYTES": "0"}, "BOOTSVC_CMDB_MAX_FACTS_BYTES: .* 1"),
        ({"BOOTSVC_REPORT_MAX_DETAILS_BYTES": "-5"}, "BOOTSVC_REPORT_MAX_DETAILS_BYTES"),
    ],
)
def test_bad_values_name_their_source(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(None, {"data_dir": tmp_path}, env)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bootsvc.toml"
    config.write_text("http_lisen = ':80'\n")
    with pytest.raises(SettingsError, match="unknown setting 'http_lisen'"):
        load_settings(config, {}, {})


def test_a_settings_file_that_is_not_text_is_one_error(tmp_path: Path) -> None:
    config = tmp_path / "bootsvc.toml"
    config.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(SettingsError, match="not UTF-8 text"):
        load_settings(config, {}, {})
