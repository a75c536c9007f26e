"""Connecting to Ray and sizing actor pools so that they cannot starve other work."""

from __future__ import annotations

import math

from engine.errors import fail


def ray_module():
    """``import ray``, or a usage error that says which extra to install."""
    try:
        import ray
    except ImportError as err:
        raise fail("E001", argument="ray", problem="Ray is not installed; pip install "
                   "'filter-engine[ray]'") from err
    return ray


def connect(address: str | None = None, num_cpus: int | None = None):
    """The Ray module, connected: to ``address`` when given, to the cluster this process
    already joined, or to a new local one (``num_cpus`` CPUs, no dashboard)."""
    ray = ray_module()
    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False)
    return ray


def pool_size(cpus: float, num_cpus: float, wanted: int | None, reserve: float,
              argument: str) -> int:
    """Actors that fit in ``cpus`` while ``reserve`` CPUs stay free for the tasks that feed
    them (Ray Data's read and write operators: with every CPU held by an actor they never
    get one and the pipeline hangs, ray-project/ray and NVIDIA-NeMo/Curator#1544).

    Raises:
        UsageError: E001 when ``wanted`` actors, or even one, would not leave ``reserve``.
    """
    if num_cpus < 0:
        raise fail("E001", argument=argument, problem=f"num_cpus {num_cpus} must be >= 0")
    room = cpus - reserve
    fits = math.inf if num_cpus == 0 else math.floor(room / num_cpus + 1e-9)
    if wanted is not None:
        if wanted < 1:
            raise fail("E001", argument=argument, problem=f"{wanted} actors: must be >= 1")
        if wanted > fits:
            raise fail("E001", argument=argument, problem=(
                f"{wanted} actors x {num_cpus:g} CPU would leave less than {reserve:g} of the "
                f"cluster's {cpus:g} CPUs for the read and write tasks (the pipeline would "
                "hang); use fewer actors or a fractional num_cpus"))
        return wanted
    if fits < 1:
        raise fail("E001", argument=argument, problem=(
            f"one actor x {num_cpus:g} CPU does not fit in the cluster's {cpus:g} CPUs with "
            f"{reserve:g} kept for reading; use a fractional num_cpus"))
    return int(min(fits, max(1, cpus)))


def check_gpus(resources: dict, num_gpus: float, argument: str) -> None:
    """Refuse a per-actor GPU request the cluster cannot meet (the actors would wait for
    a GPU forever and the run would hang instead of failing).

    Raises:
        UsageError: E001 naming the request and what the cluster has.
    """
    have = float(resources.get("GPU", 0))
    if num_gpus < 0 or num_gpus > have:
        raise fail("E001", argument=argument, problem=(
            f"num_gpus {num_gpus:g} per actor, but the cluster has {have:g} GPUs; the actors "
            "would wait forever"))


def gpu_pool_size(gpus: float, per_actor: float, wanted: int | None, argument: str) -> int:
    """Actors in a pool whose actors each hold ``per_actor`` GPUs: ``wanted``, else as many
    as the cluster's ``gpus`` hold (one when ``per_actor`` is 0).

    Raises:
        UsageError: E001 when one actor, or ``wanted`` of them, need more GPUs than the
            cluster has (Ray would start the pool's first actors and the rest would wait
            for a GPU forever).
    """
    check_gpus({"GPU": gpus}, per_actor, argument)
    fits = math.inf if per_actor == 0 else math.floor(gpus / per_actor + 1e-9)
    if wanted is None:
        return 1 if per_actor == 0 else int(fits)
    if wanted < 1:
        raise fail("E001", argument=argument, problem=f"{wanted} actors: must be >= 1")
    if wanted > fits:
        raise fail("E001", argument=argument, problem=(
            f"{wanted} actors x {per_actor:g} GPU, but the cluster has {gpus:g} GPUs; the "
            "actors beyond would wait forever"))
    return wanted
