"""datatrove: the EngineFilter step under a real SlurmPipelineExecutor (sbatch job array,
srun, pickled executor, merge_stats job) keeps and drops exactly what the
LocalPipelineExecutor does on the same input. Needs a Slurm partition that is up
(`.ci/slurm-up` starts a one-node cluster on this host); skips, saying why, without one."""

import gzip
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import engine
from tests.runkit import texts, write_lists

pytest.importorskip("datatrove", reason="install filter-engine[test]")
from datatrove.executor import LocalPipelineExecutor, SlurmPipelineExecutor  # noqa: E402
from datatrove.pipeline.readers import JsonlReader  # noqa: E402
from datatrove.pipeline.writers import JsonlWriter  # noqa: E402

from engine.integrations.datatrove import EngineFilter  # noqa: E402

TASKS = 2
JOB_NAME = "fe-datatrove-test"
DEADLINE_S = 90


def _partition_up() -> tuple[str | None, str]:
    """A Slurm partition that is up with a usable node, or None and why there is none."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return None, "Slurm is not installed (no sinfo/sbatch)"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P %a %T"], capture_output=True,
                             text=True, timeout=5, check=True).stdout
    except subprocess.TimeoutExpired:
        return None, "sinfo did not answer in 5 s (slurmctld down?)"
    except (subprocess.CalledProcessError, OSError) as err:
        return None, f"sinfo failed: {getattr(err, 'stderr', '') or err}".strip()
    for line in out.splitlines():
        name, avail, state = line.split()
        if avail == "up" and state.rstrip("*~#") in ("idle", "mixed", "allocated"):
            return name.rstrip("*"), ""
    return None, f"sinfo shows no up partition with a usable node: {out.strip()!r}"


PARTITION, WHY_NOT = _partition_up()
pytestmark = pytest.mark.skipif(
    PARTITION is None, reason=f"{WHY_NOT}; run .ci/slurm-up to start a one-node cluster")


def _read(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            rows += [json.loads(line) for line in f]
    return rows


def _pipeline(spec, data: Path, out: Path) -> list:
    return [JsonlReader(str(data)),
            EngineFilter(spec, exclusion_writer=JsonlWriter(str(out / "removed")),
                         batch_size=128),
            JsonlWriter(str(out / "kept"))]


def _outcome(out: Path) -> tuple[list[str], dict[str, str], dict]:
    kept = sorted(d["id"] for d in _read(out / "kept"))
    removed = {d["id"]: d["metadata"]["filter_reason"] for d in _read(out / "removed")}
    stats = json.loads((out / "logs" / "stats.json").read_text())
    step = next(s for s in stats if s["name"].endswith("filter-engine"))["stats"]
    # a merged stats.json (Slurm's merge_stats job) holds {"total": n, ...} per counter
    return kept, removed, {k: v if isinstance(v, int) else v["total"] for k, v in step.items()}


def _wait_for_slurm(out: Path, slurm_logs: Path) -> None:
    """Until every task has completed and the merge_stats job has written stats.json."""
    logs = out / "logs"
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        done = len(list((logs / "completions").glob("*"))) if logs.exists() else 0
        if done == TASKS and (logs / "stats.json").exists():
            return
        reasons = subprocess.run(["squeue", "-h", "-n", JOB_NAME, "-o", "%r"],
                                 capture_output=True, text=True).stdout.split()
        if set(reasons) <= {"DependencyNeverSatisfied"} and not (logs / "stats.json").exists():
            break  # a task failed (merge_stats can never start): fail now, with the logs
        time.sleep(0.5)
    job_logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}"
                         for p in sorted(slurm_logs.glob("*")) if p.is_file())
    queue = subprocess.run(["squeue"], capture_output=True, text=True).stdout
    pytest.fail(f"Slurm job failed or ran past {DEADLINE_S} s\nsqueue:\n{queue}\n{job_logs}")


def test_engine_filter_under_slurm_matches_the_local_executor(tmp_path):
    spec = engine.FilterSpec.from_toml(write_lists(tmp_path))
    data = tmp_path / "in"
    data.mkdir()
    for i in range(TASKS):
        part = [{"id": f"{i}-{j}", "text": t} for j, t in enumerate(texts(400, i)) if t]
        (data / f"p{i}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in part))
    local, slurm = tmp_path / "local", tmp_path / "slurm"
    LocalPipelineExecutor(pipeline=_pipeline(spec, data, local), tasks=TASKS, workers=TASKS,
                          logging_dir=str(local / "logs")).run()
    slurm_logs = tmp_path / "slurm_logs"
    SlurmPipelineExecutor(
        pipeline=_pipeline(spec, data, slurm), tasks=TASKS, time="00:05:00",
        partition=PARTITION, job_name=JOB_NAME, mem_per_cpu_gb=1,
        # the job runs this interpreter's environment (datatrove's launch_pickled_pipeline)
        env_command=f'export PATH="{Path(sys.executable).parent}:$PATH"',
        logging_dir=str(slurm / "logs"), slurm_logs_folder=str(slurm_logs),
        mail_type="NONE", requeue=False).run()
    try:
        _wait_for_slurm(slurm, slurm_logs)
    finally:
        subprocess.run(["scancel", "-n", JOB_NAME], check=False)  # leave no job behind
    kept, removed, stats = _outcome(slurm)
    assert (kept, removed, stats) == _outcome(local)
    assert kept and removed and set(removed.values()) >= {"cbrn"}
    assert stats["total"] == len(kept) + len(removed)
