"""filter-engine on Ray (optional extra: ``pip install 'filter-engine[ray]'``).

- ``filter_stage(ds, spec)``: the filter as a stage of a user's own Ray Data pipeline
  (``map_batches`` over pyarrow batches, one filter per actor); with
  ``classifier_num_gpus`` the classifiers run in a GPU actor pool of their own.
- ``run(inputs, output, spec, address=...)``: the shard runner on a Ray cluster, with the
  same outputs, markers and report as ``engine.run`` on one machine.

Ray is imported when one of them is called, never by ``import engine``.
"""

from engine.ray.runner import run
from engine.ray.stage import StageSplit, filter_stage

__all__ = ["StageSplit", "filter_stage", "run"]
