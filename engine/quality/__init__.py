"""Measuring a filter on labelled reference text: ``filter-engine eval -c`` and ``screen``.

One job per module: ``labelled`` reads a labelled set, ``trace`` runs a whole filter over
it and keeps every row's reason, terms and scores, ``filter_eval`` measures those decisions
against the labels, ``samples`` picks the rows a person should read,
``summary`` writes the Markdown table, ``plots`` the PNGs, ``screening`` the per-term
screen of blocklists. This package sits beside ``train`` and ``bench``: it may import
``filter``, ``classify``, ``match``, ``io`` and ``train`` (for its metrics and PR-curve
drawing), never ``execution`` or ``commands``.
"""
