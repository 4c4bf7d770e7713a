"""One writer per run store: a lock file naming its holder (pid, host, start time).

`compare`, `rnnkit train` and `build_report` hold the lock of their folder while they
write. A second process on the same folder is refused with one line naming the holder.
A lock left by a process that no longer exists on this host (killed with `kill -9`, a
crashed machine) is stale: the next process takes it over. A lock written on another
host is never taken over (its process cannot be checked from here); the message says
which file to delete once that process is known to be gone.

The lock file is created atomically (its full record is written under a private name,
then hard-linked to `.rnnkit.lock`, which fails if the name exists), so a reader never
sees half a record. Taking over a stale lock happens under a second file created with
`O_CREAT | O_EXCL`, and the stale record is read again under it before anything is
removed, so two processes that find the same stale lock cannot both take it.

Within one process the lock is re-entrant for the thread that holds it (the CLI holds
it around `compare` and `build_report`, which take it again).

Example:

```python
with store_lock("runs/demo"):
    ...  # write the store
```
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from rnnkit.errors import StoreLockedError

LOCK_FILE = ".rnnkit.lock"
_TAKEOVER_FILE = ".rnnkit.lock.takeover"
# A takeover file older than this was left by a killed process (taking over takes milliseconds).
_TAKEOVER_SECONDS = 30.0

# Locks this process holds: resolved folder -> [thread id, depth].
_held: dict[str, list] = {}
_held_guard = threading.Lock()


def lock_path(out_dir) -> Path:
    """The lock file of a store."""
    return Path(out_dir) / LOCK_FILE


def read_holder(out_dir) -> dict | None:
    """The record of the process holding the store's lock, or None when it is free or unreadable."""
    return _read(lock_path(out_dir))


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def process_alive(pid) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # It exists, owned by another user.
        return True
    except (OverflowError, ValueError, TypeError, OSError):
        return False
    return True


def is_stale(record: dict | None) -> bool:
    """Whether a lock record names a process of this host that no longer runs."""
    if not record or record.get("host") != socket.gethostname():
        return False
    pid = record.get("pid")
    if pid == os.getpid():  # This process holds no such lock (see `store_lock`): a leftover.
        return True
    return not process_alive(pid)


def describe(record: dict | None, out_dir) -> str:
    """The one-line refusal for a store locked by `record`."""
    path = lock_path(out_dir)
    if not record:
        holder = "a process whose lock record cannot be read"
    else:
        holder = (f"pid {record.get('pid')} on host {record.get('host')!r} since {record.get('started')} "
                  f"({record.get('command', 'rnnkit')})")
    return (f"Store {str(out_dir)!r} is in use by another rnnkit process: {holder}; wait for it to finish "
            f"or choose another folder. If that process is gone, delete {str(path)!r}.")


def _create(path: Path, record: dict) -> bool:
    """Creates the lock file holding `record`; False when it already exists."""
    text = json.dumps(record) + "\n"
    private = path.with_name(f"{LOCK_FILE}-{os.getpid()}-{threading.get_ident()}.new")
    private.write_text(text, encoding="utf-8")
    try:
        os.link(private, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # A file system without hard links: an exclusive create instead.
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        return True
    finally:
        private.unlink(missing_ok=True)


def _take_over(path: Path, stale: dict | None) -> None:
    """Removes the lock file if it still holds the `stale` record, under a takeover guard."""
    guard = path.with_name(_TAKEOVER_FILE)
    try:
        descriptor = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        # Another process is taking over right now; one left by a killed process is removed.
        try:
            if time.time() - guard.stat().st_mtime > _TAKEOVER_SECONDS:
                guard.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
        return
    try:
        os.close(descriptor)
        # Read again under the guard: only the very record found stale is removed.
        if _read(path) == stale:
            path.unlink(missing_ok=True)
    finally:
        guard.unlink(missing_ok=True)


def acquire(out_dir, command: str = "rnnkit") -> Path:
    """Takes the store's lock (creating the folder) or raises `StoreLockedError`.

    Args:
        out_dir: The store folder.
        command: What holds the lock, shown to a refused process ("rnnkit compare").

    Returns:
        The lock file's path.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(out_dir)
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
    }
    for _ in range(20):
        if _create(path, record):
            return path
        holder = _read(path)
        if holder is None and path.exists():
            # Written by the exclusive-create fallback this instant, or damaged: not ours to remove.
            raise StoreLockedError(describe(None, out_dir))
        if holder is not None and not is_stale(holder):
            raise StoreLockedError(describe(holder, out_dir))
        if holder is not None:
            _take_over(path, holder)
    raise StoreLockedError(describe(_read(path), out_dir))


def release(out_dir) -> None:
    """Removes the store's lock if this process holds it."""
    path = lock_path(out_dir)
    holder = _read(path)
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


@contextmanager
def store_lock(out_dir, command: str = "rnnkit"):
    """Holds the store's lock for the `with` block (re-entrant for the holding thread).

    Raises:
        StoreLockedError: Another process (or another thread of this one) holds it.
    """
    key = str(Path(out_dir).resolve())
    thread = threading.get_ident()
    with _held_guard:
        entry = _held.get(key)
        if entry is not None and entry[0] != thread:
            raise StoreLockedError(describe(_read(lock_path(out_dir)), out_dir))
        if entry is not None:
            entry[1] += 1
    if entry is not None:
        try:
            yield lock_path(out_dir)
        finally:
            with _held_guard:
                entry[1] -= 1
        return
    path = acquire(out_dir, command)
    with _held_guard:
        _held[key] = [thread, 1]
    try:
        yield path
    finally:
        with _held_guard:
            _held.pop(key, None)
        release(out_dir)
