"""Input and output: the Arrow text boundary, shard discovery, readers and writers (local or
object store).
"""
