"""Test-only fault injection, so that tests can kill or hang a worker at a chosen point.

Inert unless ``ENGINE_TESTING=1``; then ``ENGINE_FAULT=kind:where:shard[,...]`` acts at the
named points of ``engine.execution.job`` (``batch``: before each batch; ``before_marker``: after the
outputs are published, before the marker is written) and of ``engine.execution.worker``
(``load``: before the worker loads the filter; no shard, so only ``*`` matches).
"""

from __future__ import annotations

import os
import signal
import time


def fault(where: str, rel: str) -> None:
    """Test-only fault injection (``ENGINE_TESTING=1``, ``ENGINE_FAULT=kind:where:shard``).

    Kinds: ``crash`` (SIGKILL itself), ``crash_once`` (SIGKILL on the first attempt only;
    needs ``ENGINE_FAULT_STATE``, a directory remembering attempts), ``hang`` (sleep for an
    hour), ``slow`` (sleep 0.2 s), ``raise`` (a ``RuntimeError``, i.e. a bug). ``shard``
    matches a substring of the shard's relative name; ``*`` matches all.
    """
    if os.environ.get("ENGINE_TESTING") != "1":
        return
    for spec in filter(None, os.environ.get("ENGINE_FAULT", "").split(",")):
        kind, at, target = (spec.split(":") + ["*", "*"])[:3]
        if at != where or (target != "*" and target not in rel):
            continue
        if kind == "crash_once":
            flag = os.path.join(os.environ["ENGINE_FAULT_STATE"], rel.replace("/", "__"))
            if os.path.exists(flag):
                continue
            open(flag, "w").close()
            kind = "crash"
        if kind == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        elif kind == "hang":
            time.sleep(3600)
        elif kind == "slow":
            time.sleep(0.2)
        elif kind == "raise":
            raise RuntimeError(f"injected fault at {where} {rel}".rstrip())
