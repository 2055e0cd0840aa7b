"""Feeds: the server's front door for an operator's analytics system (经分).

One module per feed kind over a shared reader, mapping and writer; `callcue-server import KIND FILE`.
The format and the walk-through are in docs/feeds.md.
"""
