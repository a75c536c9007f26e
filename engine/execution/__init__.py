"""Executing a run over shards: the runner, supervisor and worker processes, the per-shard
job, the manifest, report and progress. (Named ``execution`` so that ``engine.run`` stays the
function.)
"""
