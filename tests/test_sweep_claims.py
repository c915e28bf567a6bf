"""Sweep claims: claiming, finishing and releasing; takeover of stale claims (an old heartbeat, or a holder killed on
this host); launcher processes that share a folder run every unit once, also when one of them is SIGKILLed; and of
many processes racing for the same unit, exactly one wins."""

from __future__ import annotations

import logging
import os
import pathlib
import subprocess
import sys
import time
from collections import Counter

import pytest

from ganjax.errors import ConfigError
from ganjax.sweep.claims import Claims

REPO = pathlib.Path(__file__).resolve().parent.parent

# Holds a claim on argv[2] until killed.
HOLDER = r"""
import pathlib, sys, time
from ganjax.sweep.claims import Claims
claims = Claims(pathlib.Path(sys.argv[1]))
assert claims.try_claim(sys.argv[2])
print("claimed", flush=True)
time.sleep(60)
"""

# A launcher: after the go file appears, passes over units u-00 ... u-<count - 1> (from unit `offset` on) until every
# one is finished; logs "unit pid" to started.log on claiming a unit and to finished.log once finish() returned. With
# hang_at >= 0, it hangs (until killed) in the work of the hang_at-th unit it claims (0 for the first).
LAUNCHER = r"""
import os, pathlib, sys, time
from ganjax.sweep.claims import Claims
folder, count, offset, hang_at = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
units = [f"u-{i:02d}" for i in range(count)]
units = units[offset:] + units[:offset]

def log(name, unit):
    fd = os.open(folder / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{unit} {os.getpid()}\n".encode())
    os.close(fd)

print("ready", flush=True)
while not (folder / "go").exists():
    time.sleep(0.002)
deadline = time.monotonic() + 15
claimed = 0
with Claims(folder / "claims", heartbeat_s=0.2, stale_after_s=30) as claims:
    while not all(claims.is_finished(unit) for unit in units):
        if time.monotonic() > deadline:
            sys.exit("units left unfinished after 15 s")
        for unit in units:
            if claims.try_claim(unit):
                log("started.log", unit)
                if claimed == hang_at:
                    time.sleep(60)
                claimed += 1
                time.sleep(0.03)
                claims.finish(unit)
                log("finished.log", unit)
        time.sleep(0.02)
"""

# After the go file appears, tries to claim each unit of argv[2:] once and prints "True"/"False" for each; holds what
# it won until the done file appears.
RACER = r"""
import pathlib, sys, time
from ganjax.sweep.claims import Claims
folder = pathlib.Path(sys.argv[1])
claims = Claims(folder / "claims", heartbeat_s=5, stale_after_s=60)
print("ready", flush=True)
while not (folder / "go").exists():
    time.sleep(0.001)
print(" ".join(str(claims.try_claim(unit)) for unit in sys.argv[2:]), flush=True)
while not (folder / "done").exists():
    time.sleep(0.01)
"""


def _python(script: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )


def _start_together(folder: pathlib.Path, processes: list[subprocess.Popen]) -> None:
    """Waits until every process has printed "ready", then creates the go file they wait for (and an empty
    started.log)."""
    (folder / "started.log").touch()
    for process in processes:
        assert process.stdout.readline().strip() == "ready"
    (folder / "go").touch()


def _wait(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        assert process.wait(timeout=30) == 0


def _log(path: pathlib.Path) -> list[tuple[str, int]]:
    """[(unit, pid), ...] of a launcher log, in order."""
    return [(unit, int(pid)) for unit, pid in (line.split() for line in path.read_text().splitlines())]


def _age(folder: pathlib.Path, unit: str, seconds: float) -> None:
    """Sets the heartbeat of `unit`'s newest claim `seconds` into the past."""
    newest = max(folder.glob(f"{unit}.claim.*"), key=lambda path: int(path.suffix[1:]))
    past = time.time() - seconds
    os.utime(newest, (past, past))


def test_claim_finish_release(tmp_path):
    with Claims(tmp_path) as first, Claims(tmp_path) as second:
        assert first.owner != second.owner
        assert first.try_claim("u-1")
        assert first.try_claim("u-1")  # already held
        assert not second.try_claim("u-1")
        holder = second.holder("u-1")
        assert holder["owner"] == first.owner and holder["pid"] == os.getpid()
        # The heartbeat is the claim file's modification time, from the kernel's coarse clock, which may lag
        # time.time() by a tick (a few milliseconds): a heartbeat at the claim, not after it.
        assert abs(holder["heartbeat_at"] - holder["claimed_at"]) < 0.1 and holder["heartbeat_at"] <= time.time()

        first.release("u-1")
        assert second.holder("u-1") is None
        assert second.try_claim("u-1")
        assert not first.try_claim("u-1")
        second.finish("u-1")

        assert first.is_finished("u-1") and second.is_finished("u-1")
        assert not first.try_claim("u-1") and not second.try_claim("u-1")
        assert first.holder("u-1") is None
        assert sorted(path.name for path in tmp_path.iterdir()) == ["u-1.finished"]
        assert not first.is_finished("u-2")


def test_close_releases(tmp_path):
    with Claims(tmp_path) as first:
        assert first.try_claim("u-1")
    with Claims(tmp_path) as second:
        assert second.try_claim("u-1")


def test_refuses_bad_names_and_timings(tmp_path):
    with Claims(tmp_path) as claims, pytest.raises(ValueError, match="cannot name a claim file"):
        claims.try_claim("../u-1")
    with pytest.raises(ConfigError, match="heartbeat_s < stale_after_s"):
        Claims(tmp_path, stale_after_s=10, heartbeat_s=10)


def test_old_heartbeat_taken_over_and_old_holder_told(tmp_path, caplog):
    stalled = Claims(tmp_path, heartbeat_s=0.2, stale_after_s=60)
    taker = Claims(tmp_path)
    assert stalled.try_claim("u-1")
    assert not taker.try_claim("u-1")
    # The stalled holder's own heartbeat may refresh the claim between the two lines: then try again.
    for _ in range(10):
        _age(tmp_path, "u-1", 1000)
        if taker.try_claim("u-1"):
            break
    else:
        pytest.fail("a claim 1000 s past its heartbeat was never taken over")
    assert taker.holder("u-1")["owner"] == taker.owner

    with caplog.at_level(logging.WARNING, logger="ganjax.sweep.claims"):
        deadline = time.monotonic() + 5
        while not stalled.lost("u-1") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert stalled.lost("u-1") and not taker.lost("u-1")
    assert "lost the claim on unit u-1" in caplog.text
    stalled.close()  # releases nothing: it no longer holds the unit
    assert taker.holder("u-1")["owner"] == taker.owner
    taker.close()


def test_killed_holder_on_this_host_taken_over_at_once(tmp_path):
    holder = _python(HOLDER, tmp_path, "u-1")
    try:
        assert holder.stdout.readline().strip() == "claimed"
        with Claims(tmp_path) as claims:
            assert not claims.try_claim("u-1")
            assert claims.holder("u-1")["pid"] == holder.pid
            holder.kill()
            holder.wait()
            assert claims.holder("u-1") is None
            assert claims.try_claim("u-1")
    finally:
        holder.kill()
        holder.wait()


def test_finished_between_check_and_claim(tmp_path, monkeypatch):
    with Claims(tmp_path) as claims:
        answers = iter([False, True])
        monkeypatch.setattr(claims, "is_finished", lambda unit: next(answers))
        assert not claims.try_claim("u-1")
        assert not list(tmp_path.glob("u-1.claim.*"))


def test_launchers_run_every_unit_once(tmp_path):
    launchers = [_python(LAUNCHER, tmp_path, 20, 0, -1) for _ in range(3)]
    _start_together(tmp_path, launchers)
    _wait(launchers)
    started = _log(tmp_path / "started.log")
    assert Counter(unit for unit, _ in started) == {f"u-{i:02d}": 1 for i in range(20)}
    assert len({pid for _, pid in started}) > 1  # they shared the work
    assert sorted(_log(tmp_path / "finished.log")) == sorted(started)


def test_killed_launcher_unit_resumed_by_a_survivor(tmp_path):
    """The victim hangs in its second unit and is SIGKILLed there: a survivor takes that unit over and redoes it (as
    a unit resumes from its checkpoints); every unit is finished exactly once."""
    victim = _python(LAUNCHER, tmp_path, 20, 0, 1)
    survivors = [_python(LAUNCHER, tmp_path, 20, offset, -1) for offset in (7, 14)]
    try:
        _start_together(tmp_path, [victim, *survivors])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            mine = [unit for unit, pid in _log(tmp_path / "started.log") if pid == victim.pid]
            if len(mine) == 2:
                break
            time.sleep(0.005)
        else:
            pytest.fail("the victim never claimed a second unit")
        victim.kill()
        victim.wait()
        _wait(survivors)
    finally:
        for process in (victim, *survivors):
            process.kill()
            process.wait()

    hung = mine[1]
    started = Counter(unit for unit, _ in _log(tmp_path / "started.log"))
    assert started == {f"u-{i:02d}": 2 if f"u-{i:02d}" == hung else 1 for i in range(20)}
    finished = _log(tmp_path / "finished.log")
    assert Counter(unit for unit, _ in finished) == {f"u-{i:02d}": 1 for i in range(20)}
    assert dict(finished)[hung] != victim.pid
    with Claims(tmp_path / "claims") as claims:
        assert all(claims.is_finished(f"u-{i:02d}") for i in range(20))


def test_racers_for_one_unit_exactly_one_wins(tmp_path):
    """Eight processes at once: for a fresh unit, and for a stale claim that all of them judge stale."""
    stale = Claims(tmp_path / "claims", heartbeat_s=60, stale_after_s=120)
    assert stale.try_claim("stale")
    _age(tmp_path / "claims", "stale", 1000)
    racers = [_python(RACER, tmp_path, "fresh", "stale") for _ in range(8)]
    try:
        _start_together(tmp_path, racers)
        results = [process.stdout.readline().split() for process in racers]
        (tmp_path / "done").touch()
        _wait(racers)
    finally:
        for process in racers:
            process.kill()
            process.wait()
    assert [fresh for fresh, _ in results].count("True") == 1
    assert [taken for _, taken in results].count("True") == 1
    stale.close()
