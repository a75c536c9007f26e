"""The blocklist matcher: patterns, the compiled automaton and its file, text transforms and
Unicode tables.
"""
