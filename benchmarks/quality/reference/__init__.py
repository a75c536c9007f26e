"""Readers for the packaged sources of the hazard-filter reference set, and its label rules.

One module per source; each yields :class:`reference.doc.Doc` records. ``taxonomy`` holds the
WordNet roots that the dictionary sources reuse; ``packages`` pins and fetches everything.
"""
