"""``jurist`` that kills itself (SIGKILL) at a chosen point, for tests/test_crash.py.

    python tests/crashing_jurist.py compare DATA ...   with JURIST_CRASH=POINT:N

Points (N counts the calls from 1):

- ``put_judgment:N``: in the Nth ``Store.put_judgment``, after its INSERT, before any commit (a store
  transaction in flight);
- ``commit:N``: from a timer started as the Nth ``Store.commit`` begins, 0.5 ms later (while or just
  after its COMMIT is written);
- ``ray_write:N``: in the Nth Parquet part file written by the Ray engine, after the temporary file is
  written and before it is renamed into place.

``JURIST_RAY_BATCH`` makes the Ray engine judge batches of that many rows and write a part file for each
(instead of 256 and 50,000), so a kill can fall between part files. Without JURIST_CRASH this is plain ``jurist``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _nth(n: int) -> Callable[[], bool]:
    """A counter of calls: True on the ``n``-th."""
    calls = [0]

    def hit() -> bool:
        calls[0] += 1
        return calls[0] == n

    return hit


def install() -> None:
    from jurist.engine import distributed
    from jurist.engine.store import Store

    rows = os.environ.get("JURIST_RAY_BATCH")
    if rows:
        distributed.run_on_ray.__kwdefaults__.update(batch_size=int(rows), rows_per_file=int(rows))
    point, _, count = os.environ.get("JURIST_CRASH", "").partition(":")
    if not point:
        return
    hit = _nth(int(count))
    if point == "put_judgment":
        real_put = Store.put_judgment

        def put_judgment(self: Store, *args: Any, **kwargs: Any) -> None:
            if not hit():
                return real_put(self, *args, **kwargs)
            self.commit_every, self.commit_interval_s = 10**9, 1e9  # the INSERT runs, its commit never comes
            real_put(self, *args, **kwargs)
            _die()

        Store.put_judgment = put_judgment  # type: ignore[method-assign]
    elif point == "commit":
        real_commit = Store.commit

        def commit(self: Store) -> None:
            if hit():
                threading.Timer(0.0005, _die).start()
            real_commit(self)

        Store.commit = commit  # type: ignore[method-assign]
    elif point == "ray_write":
        import pyarrow.parquet as pq

        real_write = distributed._write_atomic

        def write_atomic(path: Any, table: Any) -> None:
            if hit():
                pq.write_table(table, path.with_name(f".{path.name}.tmp"))  # the temporary file, never renamed
                _die()
            real_write(path, table)

        distributed._write_atomic = write_atomic
    else:
        raise SystemExit(f"JURIST_CRASH: unknown point {point!r}")


if __name__ == "__main__":
    install()
    from jurist.cli import app

    app()
