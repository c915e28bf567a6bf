"""Claims on units of work, kept as files in one folder that several launchers share (a SLURM array on a shared
filesystem, or the `--workers N` processes of one host), so that they split the units between them.

Files, for a unit `u`:
  `u.claim.<g>`  the claim generations 0, 1, 2, ...: each made exclusively and never rewritten. The highest one is the
                 unit's state: a claim (JSON {"owner", "host", "pid", "claimed_at"}) whose heartbeat is its file's
                 modification time, refreshed by its holder every `heartbeat_s`; or a release (JSON {"owner",
                 "released_at"}), which leaves the unit free.
  `u.finished`   the unit is done (JSON {"owner", "finished_at"}), written durably; it is never claimed again, and its
                 claim generations are deleted.

A claim is stale, and free to be taken over, when its heartbeat is older than `stale_after_s`, or at once when its
holder ran on this host and its pid is gone (a launcher killed with SIGKILL: once its parent has reaped it, since a
zombie's pid still exists).

Takeover is a compare-and-swap on the generation number. A launcher that finds generation g highest and stale (or
released) claims the unit by making g + 1, written to a temporary file and hard-linked to its name, which fails when
the name exists: of the launchers that judged g, exactly one succeeds, and the others return False. Generation files
are not deleted while the unit is unfinished, so a name never comes back: a launcher can only supersede the claim it
judged, never a newer one made meanwhile (no "moved a live claim away" race), and nobody ever sees a gap. Only
exclusive creation (open(2)'s recommendation for NFS: link, then check the link count) and renames are relied on, no
locks. After finishing, the generations go; a launcher that made one after the finish sees the finished record when it
checks again and backs off.

"No unit runs twice" therefore means: at most one launcher holds a unit at any time, and a finished unit is never
claimed again. A unit whose holder died mid-work is claimed and resumed by the taker (units resume from their
checkpoints). A holder that stalls for longer than `stale_after_s` (suspended, or cut off from the filesystem) loses
its claim: its next heartbeat finds the newer generation, logs a warning and marks the unit `lost`, and the caller must
stop working on it.

Staleness compares file times with this host's clock: the hosts' and the file server's clocks must agree to well within
`stale_after_s`, and `stale_after_s` must exceed `heartbeat_s` plus the filesystem's attribute caching (NFS's acregmax,
60 s by default; opening a file revalidates it). Use one Claims object per process.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import re
import secrets
import socket
import threading
import time
from typing import Any

from ganjax.errors import ConfigError

log = logging.getLogger(__name__)

_UNIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def _write_temporary(path: pathlib.Path, record: dict[str, Any]) -> pathlib.Path:
    """A new temporary file beside `path` holding `record` as JSON, on disk (fsynced)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with temporary.open("x") as file:
        json.dump(record, file)
        file.flush()
        os.fsync(file.fileno())
    return temporary


def _create(path: pathlib.Path, record: dict[str, Any]) -> bool:
    """Makes `path` hold `record` unless `path` exists: True when this call made it. The file appears whole."""
    temporary = _write_temporary(path, record)
    try:
        os.link(temporary, path)
    except OSError as error:
        # NFS can report a retransmitted LINK as failed (even as EEXIST) although it succeeded: the link count tells.
        if temporary.stat().st_nlink != 2:
            if isinstance(error, FileExistsError):
                return False
            raise
    finally:
        temporary.unlink()
    return True


def _replace_durably(path: pathlib.Path, record: dict[str, Any]) -> None:
    """Makes `path` hold `record`, whole or not at all, and still after a crash (the folder's entry is fsynced too)."""
    os.replace(_write_temporary(path, record), path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _read(path: pathlib.Path) -> tuple[dict[str, Any], float] | None:
    """(record, modification time in seconds since the epoch) of a claim file; None when it does not exist."""
    try:
        with path.open() as file:
            return json.load(file), os.fstat(file.fileno()).st_mtime
    except FileNotFoundError:
        return None


def _pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to another user
        pass
    return True


class Claims:
    """Claims on units of work (strings, e.g. "u-3f2a9c01"), kept as files in `directory`.

    Args:
      directory: the folder the launchers share (created if missing).
      owner: this launcher's name in the claims it makes; default "<hostname>:<pid>:<random token>". Every Claims
        object needs its own.
      stale_after_s: seconds after its last heartbeat that another launcher's claim counts as abandoned.
      heartbeat_s: seconds between the refreshes of this launcher's claims, by a daemon thread.
    """

    def __init__(
        self,
        directory: pathlib.Path,
        *,
        owner: str | None = None,
        stale_after_s: float = 120.0,
        heartbeat_s: float = 15.0,
    ):
        if not 0 < heartbeat_s < stale_after_s:
            raise ConfigError(
                f"claims need 0 < heartbeat_s < stale_after_s, got heartbeat_s={heartbeat_s} and "
                f"stale_after_s={stale_after_s}; make stale_after_s several heartbeats long (default 15 s and 120 s)"
            )
        self.directory = pathlib.Path(directory).absolute()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._host = socket.gethostname()
        self.owner = owner or f"{self._host}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stale_after_s = stale_after_s
        self._heartbeat_s = heartbeat_s
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}  # unit -> the generation of this launcher's claim
        self._lost: set[str] = set()
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat_until_stopped, name="claims-heartbeat", daemon=True)
        self._heartbeat.start()

    def _path(self, unit: str, suffix: str) -> pathlib.Path:
        if not _UNIT.fullmatch(unit):
            raise ValueError(
                f"unit {unit!r} cannot name a claim file: use at most 200 letters, digits, '.', '_' and '-', "
                "starting with a letter or digit"
            )
        return self.directory / f"{unit}.{suffix}"

    def _claim_path(self, unit: str, generation: int) -> pathlib.Path:
        return self._path(unit, f"claim.{generation}")

    def _top(self, unit: str) -> int:
        """The highest claim generation of `unit`, -1 when it has none (generations are contiguous from 0)."""
        generation = -1
        while self._claim_path(unit, generation + 1).exists():
            generation += 1
        return generation

    def _live(self, record: dict[str, Any], heartbeat_at: float) -> bool:
        """Whether a claim file's `record` with that heartbeat (seconds since the epoch) is a claim still held."""
        if "released_at" in record:
            return False
        if time.time() - heartbeat_at > self._stale_after_s:
            return False
        return record["host"] != self._host or _pid_alive(record["pid"])

    def try_claim(self, unit: str) -> bool:
        """True when this launcher now holds `unit` (or already held it); False when the unit is finished, or held by
        a live launcher. Takes over a stale claim."""
        if self.is_finished(unit):
            return False
        with self._lock:
            if unit in self._held:
                return True
        top = self._top(unit)
        seen = _read(self._claim_path(unit, top)) if top >= 0 else None
        if seen is not None and self._live(*seen):
            return False
        if top >= 0 and seen is None:
            return False  # its claim generations are being deleted: another launcher is finishing it
        mine = top + 1
        record = {"owner": self.owner, "host": self._host, "pid": os.getpid(), "claimed_at": time.time()}
        if not _create(self._claim_path(unit, mine), record):
            return False  # another launcher claimed it first
        if self.is_finished(unit):  # finished between the first check and this claim
            self._claim_path(unit, mine).unlink(missing_ok=True)
            return False
        with self._lock:
            self._held[unit] = mine
            self._lost.discard(unit)
        if seen is not None and "released_at" not in seen[0]:
            log.info(
                "took over unit %s from %s: its heartbeat was %.0f s old, or its process was gone",
                unit,
                seen[0]["owner"],
                time.time() - seen[1],
            )
        return True

    def finish(self, unit: str) -> None:
        """Records `unit` as finished (atomically and durably), then deletes its claims: it is never claimed again."""
        _replace_durably(self._path(unit, "finished"), {"owner": self.owner, "finished_at": time.time()})
        with self._lock:
            self._held.pop(unit, None)
        for generation in range(self._top(unit) + 1):
            self._claim_path(unit, generation).unlink(missing_ok=True)

    def release(self, unit: str) -> None:
        """Gives up the claim on `unit` without finishing it (a failed unit: another launcher or a rerun may take it).
        Nothing happens when this launcher does not hold it."""
        with self._lock:
            generation = self._held.pop(unit, None)
        if generation is not None:
            # Fails, harmlessly, when another launcher has already taken the unit over.
            _create(self._claim_path(unit, generation + 1), {"owner": self.owner, "released_at": time.time()})

    def is_finished(self, unit: str) -> bool:
        """Whether some launcher has finished `unit`."""
        return self._path(unit, "finished").exists()

    def lost(self, unit: str) -> bool:
        """Whether this launcher's claim on `unit` was taken over (it missed its heartbeats for over `stale_after_s`)
        or the unit was finished by another launcher: stop working on it."""
        with self._lock:
            return unit in self._lost

    def holder(self, unit: str) -> dict[str, Any] | None:
        """The live holder's record of `unit`: {"owner", "host", "pid", "claimed_at", "heartbeat_at"} (times in
        seconds since the epoch); None when it is unclaimed, released, stale or finished."""
        top = self._top(unit)
        seen = _read(self._claim_path(unit, top)) if top >= 0 and not self.is_finished(unit) else None
        if seen is None or not self._live(*seen):
            return None
        record, heartbeat_at = seen
        return {**record, "heartbeat_at": heartbeat_at}

    def _beat_until_stopped(self) -> None:
        while not self._stop.wait(self._heartbeat_s):
            self._beat()

    def _beat(self) -> None:
        """Refreshes the heartbeat of every claim this launcher holds; marks lost those it no longer holds."""
        with self._lock:
            held = dict(self._held)
        for unit, generation in held.items():
            path = self._claim_path(unit, generation)
            try:
                seen = _read(path)
                taken = (
                    seen is None or seen[0]["owner"] != self.owner or self._claim_path(unit, generation + 1).exists()
                )
                if not taken:
                    os.utime(path)
            except OSError as error:
                log.warning(
                    "could not refresh the claim on unit %s (%s); retrying in %g s", unit, error, self._heartbeat_s
                )
                continue
            if not taken:
                continue
            with self._lock:  # told before `lost` says so: whoever sees it lost finds the message logged
                if self._held.get(unit) != generation:
                    continue  # released or finished meanwhile
                log.warning(
                    "lost the claim on unit %s: another launcher took it over (this one's heartbeats stopped for too "
                    "long) or finished it; stop working on it",
                    unit,
                )
                del self._held[unit]
                self._lost.add(unit)

    def close(self) -> None:
        """Stops the heartbeat and releases every claim still held."""
        self._stop.set()
        self._heartbeat.join()
        with self._lock:
            units = list(self._held)
        for unit in units:
            self.release(unit)

    def __enter__(self) -> Claims:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
