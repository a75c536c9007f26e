"""``filter_stage``: filter-engine as a stage of a user's own Ray Data pipeline.

The stage is ``map_batches`` over pyarrow batches with an actor pool: each actor builds
the filter once (automata, models) and annotates every batch it is given. Every row
comes out, with ``fe_keep``, ``fe_reason`` and the stage columns (counts, scores); a row
whose text is not valid UTF-8 comes out too, flagged ``invalid_utf8`` (see
``engine.integrations.rows``), so nothing is lost between the stage's input and output.
``drop=True`` then splits the annotated rows into kept and removed datasets; neither is
discarded.

With ``classifier_num_gpus`` the filter runs as two stages instead (``engine.ray.pools``):
matching on a CPU actor pool, then the classifiers (each on the rows its ``run_if``
selects) and the decision on a second pool whose actors hold ``classifier_num_gpus`` GPUs
each; the rows and columns that come out are the one-pool stage's.

Resources: the pools are sized so that at least one CPU (half of a one-CPU cluster) stays
free for Ray Data's read and write tasks. With every CPU held by the filter's actors the
read task never runs and the pipeline hangs; pools that would do that are refused (E001),
and so is a GPU pool that needs more GPUs than the cluster has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import fail
from engine.execution.job import MAX_DOC_BYTES
from engine.filter.spec import FilterSpec
from engine.integrations.rows import KEEP, annotate_rows, annotating
from engine.ray.cluster import check_gpus, connect, gpu_pool_size, pool_size
from engine.ray.pools import ClassifyActor, MatchActor


@dataclass
class StageSplit:
    """``filter_stage(..., drop=True)``: the kept rows (input columns only) and the removed
    rows (with the ``fe_`` columns that say why), from one materialized annotation."""

    kept: Any
    removed: Any


class _FilterActor:
    """One per actor: the filter is built here once and serves every batch."""

    def __init__(self, spec: FilterSpec, max_doc_bytes: int | None):
        self.filter = annotating(spec).load()
        self.max_doc_bytes = max_doc_bytes

    def __call__(self, batch: pa.Table) -> pa.Table:
        return annotate_rows(self.filter, batch, self.max_doc_bytes)


def _kept(batch: pa.Table, added: list[str]) -> pa.Table:
    return batch.filter(batch.column(KEEP)).drop_columns(added)


def _removed(batch: pa.Table) -> pa.Table:
    return batch.filter(pc.invert(batch.column(KEEP)))


def filter_stage(ds, spec: FilterSpec | str | None = None, *, drop: bool = False,
                 actors: int | None = None, num_cpus: float | None = None,
                 num_gpus: float = 0, classifier_num_gpus: float | None = None,
                 classifier_actors: int | None = None,
                 classifier_num_cpus: float | None = None, batch_size: int | None = 4096,
                 max_doc_bytes: int | None = MAX_DOC_BYTES):
    """Add the filter to a Ray Data pipeline.

    Args:
        ds: a ``ray.data.Dataset`` with the spec's text column.
        spec: a ``FilterSpec``, a TOML path, or None for the shipped default (its mode is
            ignored: the stage annotates, ``drop`` splits).
        drop: return a ``StageSplit`` (kept, removed) instead of the annotated dataset.
            The annotation is materialized once (in the object store, spilling to disk) so
            the filter runs once for both sides.
        actors: (matching) actor pool size (default: as many as fit, see the module
            docstring).
        num_cpus: CPUs reserved per (matching) actor (default 1, or 0.5 on a one-CPU
            cluster; with a classifier pool, less where the two pools would not fit).
        num_gpus: GPUs per actor of the one pool (the whole filter on GPU actors).
        classifier_num_gpus: run the classifiers and the decision in a pool of their own
            whose actors hold this many GPUs each (0 or fractional allowed); matching stays
            on the CPU pool. None: one pool.
        classifier_actors: classifier pool size (default: as many as the cluster's GPUs
            hold, one when ``classifier_num_gpus`` is 0).
        classifier_num_cpus: CPUs reserved per classifier actor (default as ``num_cpus``).
        batch_size: rows per batch given to an actor.
        max_doc_bytes: longer texts are flagged ``too_long`` unscanned (None: no cap).

    Returns:
        The annotated ``Dataset`` (lazy), or a ``StageSplit`` with ``drop=True``.

    Raises:
        UsageError: E001 when the pools would hold every CPU, ask for GPUs the cluster
            does not have, ``num_gpus`` and ``classifier_num_gpus`` are both given, or Ray
            is not installed.
    """
    ray = connect()
    from ray.data import ActorPoolStrategy

    spec = FilterSpec.load(spec)
    resources = ray.cluster_resources()
    split = classifier_num_gpus is not None
    if split and num_gpus:
        raise fail("E001", argument="filter_stage(num_gpus=..., classifier_num_gpus=...)",
                   problem="num_gpus puts the whole filter on GPU actors, "
                   "classifier_num_gpus only its classifiers: give one of them")
    if not split and (classifier_actors is not None or classifier_num_cpus is not None):
        raise fail("E001", argument="filter_stage(classifier_actors=..., "
                   "classifier_num_cpus=...)",
                   problem="they size the classifier pool: give classifier_num_gpus too "
                   "(0 for a CPU pool)")
    check_gpus(resources, num_gpus, "filter_stage(num_gpus=...)")
    cpus = float(resources.get("CPU", 0))
    reserve = min(1.0, cpus / 2)
    default = 1.0 if cpus >= 2 else 0.5
    if split:
        default = min(default, (cpus - reserve) / 2)
    per_actor = num_cpus if num_cpus is not None else default
    options = {"fn_constructor_kwargs": {"spec": spec, "max_doc_bytes": max_doc_bytes},
               "batch_format": "pyarrow", "batch_size": batch_size, "zero_copy_batch": True}
    if split:
        assert classifier_num_gpus is not None  # split says so
        argument = "filter_stage(classifier_actors=..., classifier_num_gpus=...)"
        their_cpus = classifier_num_cpus if classifier_num_cpus is not None else default
        wanted = gpu_pool_size(float(resources.get("GPU", 0)), classifier_num_gpus,
                               classifier_actors, argument)
        theirs = pool_size(cpus, their_cpus, wanted, reserve, argument)
        size = pool_size(cpus, per_actor, actors, reserve + theirs * their_cpus,
                         "filter_stage(actors=..., num_cpus=...) beside the classifier pool")
        matched = ds.map_batches(MatchActor, compute=ActorPoolStrategy(size=size),
                                 num_cpus=per_actor, **options)
        annotated = matched.map_batches(
            ClassifyActor, compute=ActorPoolStrategy(size=theirs), num_cpus=their_cpus,
            num_gpus=classifier_num_gpus, **options)
    else:
        size = pool_size(cpus, per_actor, actors, reserve,
                         argument="filter_stage(actors=..., num_cpus=...)")
        annotated = ds.map_batches(_FilterActor, compute=ActorPoolStrategy(size=size),
                                   num_cpus=per_actor, num_gpus=num_gpus, **options)
    if not drop:
        return annotated
    annotated = annotated.materialize()
    inputs = set(ds.schema().names)
    added = [name for name in annotated.schema().names if name not in inputs]
    return StageSplit(
        annotated.map_batches(_kept, fn_kwargs={"added": added}, batch_format="pyarrow"),
        annotated.map_batches(_removed, batch_format="pyarrow"))
