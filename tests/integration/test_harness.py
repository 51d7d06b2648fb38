"""The tests' harness itself: a stack that cannot start must not leave services behind
(orphans holding database connections starve every other run on the shared server)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests import harness

pytestmark = pytest.mark.integration


def processes_of(ns: harness.Namespace) -> list[int]:
    """Processes started with this namespace's topic prefix in their environment."""
    found = []
    marker = f"LEADBRIDGE_TOPIC_PREFIX={ns.topic_prefix}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


def test_a_stack_that_cannot_start_leaves_no_service_running(private_namespace: harness.Namespace,
                                                             tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no_such_service exited"):
        harness.start_stack(private_namespace, tmp_path, names=("no_such_service", "content"))
    deadline = time.monotonic() + 10
    while processes_of(private_namespace) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_of(private_namespace) == []
