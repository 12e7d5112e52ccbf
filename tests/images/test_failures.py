"""The cause of a failed build, found in what apt and mmdebstrap print."""

from __future__ import annotations

from bootsvc.images import failures

# As mmdebstrap printed it for `deb http://127.0.0.1:9/debian bookworm main`.
MMDEBSTRAP_UNREACHABLE = """\
I: running apt-get update...
Ign:1 http://127.0.0.1:9/debian bookworm InRelease
Err:1 http://127.0.0.1:9/debian bookworm InRelease
  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)
Reading package lists...
E: Failed to fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease  Could not connect \
to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)
E: Some index files failed to download. They have been ignored, or old ones used instead.
E: apt-get update --error-on=any -oAPT::Status-Fd=<$fd> -oDpkg::Use-Pty=false failed
E: mmdebstrap failed to run
""".splitlines()

APT_MISSING = """\
Reading package lists...
Building dependency tree...
Package vim-nox is a virtual package provided by:
E: Unable to locate package bootsvc-nope
E: Package 'vim-nox' has no installation candidate
""".splitlines()


def test_an_unreachable_mirror_is_named_with_apts_reason() -> None:
    cause = failures.cause(MMDEBSTRAP_UNREACHABLE, "http://127.0.0.1:9/debian")
    assert cause == (
        "mirror http://127.0.0.1:9/debian is unreachable: Could not connect to 127.0.0.1:9 "
        "(127.0.0.1). - connect (111: Connection refused)"
    )


def test_without_a_given_mirror_the_repository_apt_tried_is_named() -> None:
    lines = [
        "E: Failed to fetch http://deb.example.org/debian/pool/main/l/linux/x.deb  "
        "Temporary failure resolving 'deb.example.org'"
    ]
    assert failures.cause(lines) == (
        "mirror http://deb.example.org/debian is unreachable: "
        "Temporary failure resolving 'deb.example.org'"
    )


def test_missing_packages_are_named_in_order() -> None:
    assert failures.cause(APT_MISSING) == (
        "no packages bootsvc-nope, vim-nox in the package sources"
    )
    assert failures.cause(APT_MISSING[:4]) == "no package bootsvc-nope in the package sources"


def test_an_unreachable_mirror_explains_the_packages_apt_then_cannot_find() -> None:
    cause = failures.cause(MMDEBSTRAP_UNREACHABLE + APT_MISSING)
    assert cause is not None and cause.startswith("mirror http://127.0.0.1:9/debian is unreach")


def test_a_full_device_comes_first() -> None:
    line = "Write failed because No space left on device"
    assert failures.cause([*APT_MISSING, line]) == f"no space left on device ({line})"


def test_other_failures_have_no_known_cause() -> None:
    lines = ["E: Sub-process /usr/bin/dpkg returned an error code (1)", "404  Not Found"]
    assert failures.cause(lines) is None
