"""The output lock: one run per output directory, also when several take over a stale lock.

Regression for issue 8 (3): create-exclusive -> read holder -> remove if dead -> retry let a
second run delete a lock the first had just re-created, so two runs held it at once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from engine.errors import RunStateError
from engine.execution.manifest import LOCK, Lock
from engine.io.writers import Output

CONTENDER = textwrap.dedent("""
    import os, sys, time
    from engine.errors import RunStateError
    from engine.execution.manifest import Lock
    from engine.io.writers import Output
    base, me, trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for trial in range(trials):
        root = os.path.join(base, f"out{trial}")
        while not os.path.exists(os.path.join(base, f"go{trial}")):
            pass
        try:
            lock = Lock(Output(root)).acquire()
        except RunStateError:
            lock = None
        if lock is not None:
            try:  # inside the lock: nobody else may be here
                fd = os.open(os.path.join(root, "occupied"), os.O_CREAT | os.O_EXCL)
                time.sleep(0.02)
                os.close(fd)
                os.remove(os.path.join(root, "occupied"))
            except FileExistsError:
                print("TWO HOLDERS", flush=True)
            lock.release()
        open(os.path.join(base, f"done{trial}.{me}"), "w").close()
""")


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def _stale_lock(root) -> None:
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, LOCK), "w") as fh:
        json.dump({"pid": _dead_pid(), "host": socket.gethostname(), "started": 0}, fh)


def test_issue_8_stale_lock_is_taken_over_by_one_run_only(tmp_path):
    """Three runs race for a stale lock, 60 times: never two holders at once."""
    script, trials, contenders = tmp_path / "contender.py", 60, 3
    script.write_text(CONTENDER)
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path), str(i), str(trials)],
                              stdout=subprocess.PIPE, text=True) for i in range(contenders)]
    for trial in range(trials):
        _stale_lock(str(tmp_path / f"out{trial}"))
        (tmp_path / f"go{trial}").touch()
        while len(list(tmp_path.glob(f"done{trial}.*"))) < contenders:
            time.sleep(0.001)
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert sum(out.count("TWO HOLDERS") for out in outputs) == 0


def test_lock_refuses_a_second_run_and_frees_on_release(tmp_path):
    out = Output(str(tmp_path / "out"))
    held = Lock(out).acquire()
    with pytest.raises(RunStateError, match=rf"E062.*in use by pid {os.getpid()}"):
        Lock(out).acquire()
    held.release()
    Lock(out).acquire().release()  # free again after release


def test_lock_of_a_dead_run_is_taken_over(tmp_path):
    root = str(tmp_path / "out")
    _stale_lock(root)
    lock = Lock(Output(root)).acquire()
    with open(os.path.join(root, LOCK)) as fh:
        assert json.loads(fh.read())["pid"] == os.getpid()
    lock.release()
