"""The suite under emulation: scripts/arm64-check.sh runs it in an arm64 Debian root under qemu-user.

qemu runs this code 100-150 times slower than the build machine (face detection 650 ms per frame against
4.8 ms: ../shared/notes/arm64.md). ``TODAYFEELING_EMULATION``, set by that script, says how to cope:

- unset: native, every test as written.
- ``short`` (what CI runs): a test marked ``emulation_short(reason=...)`` runs its shorter variant, which
  checks the same behaviour on less input; the reason says what is shortened and why. The run's header
  says so and its summary lists every shortened test with its reason: nothing is skipped.
- ``full`` (``scripts/arm64-check.sh SUITE --full``): every test as written.

Under either emulated mode, hang guards (timeouts that only catch a stuck process, never a speed claim)
are multiplied by ``HANG_GUARD_FACTOR``.
"""

from __future__ import annotations

import os

import pytest

MODE = os.environ.get("TODAYFEELING_EMULATION", "")
if MODE not in ("", "short", "full"):
    raise RuntimeError(f"TODAYFEELING_EMULATION must be unset, 'short' or 'full', not {MODE!r}")
HANG_GUARD_FACTOR = 10.0  # emulation alone is 100-150x slower, and the build machines are shared
_SHORTENED = pytest.StashKey[list[tuple[str, str]]]()


def hang_guard(seconds: float) -> float:
    """A timeout that only catches a hang, stretched under emulation."""
    return seconds * HANG_GUARD_FACTOR if MODE else seconds


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emulation_short(reason): runs a shorter variant when "
                                       "TODAYFEELING_EMULATION=short (tests/emulation.py); reason: what and why")


def pytest_report_header(config: pytest.Config) -> str | None:
    if not MODE:
        return None
    what = "shorter variants of the tests marked emulation_short" if MODE == "short" else "every test in full"
    return f"emulation: TODAYFEELING_EMULATION={MODE}: {what}; hang guards x{HANG_GUARD_FACTOR:g}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shortened = []
    for item in items:
        marker = item.get_closest_marker("emulation_short")
        if marker is None:
            continue
        reason = marker.kwargs.get("reason", "")
        if not reason:
            raise pytest.UsageError(f"{item.nodeid}: emulation_short needs a reason")
        shortened.append((item.nodeid, reason))
    config.stash[_SHORTENED] = shortened if MODE == "short" else []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    shortened = config.stash.get(_SHORTENED, [])
    if shortened:
        terminalreporter.section("shortened under emulation (TODAYFEELING_EMULATION=short)")
        for nodeid, reason in shortened:
            terminalreporter.write_line(f"SHORTENED {nodeid}: {reason}")


@pytest.fixture()
def emulation_short(request: pytest.FixtureRequest) -> bool:
    """Whether this test runs its shorter variant (only for tests marked ``emulation_short``)."""
    if request.node.get_closest_marker("emulation_short") is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses emulation_short without the marker")
    return MODE == "short"
