"""Feeds: the server's front door for an operator's analytics system (经分).

One module per feed kind (customers, numbers, usage, bills, complaints, contacts, subscriptions, scores,
members; catalog) over a shared reader (reader.py), mapping (mapping.py) and writer (writer.py);
`callcue-server import KIND FILE`, or from Python:

    apply_feed(engine, "usage", "usage.csv")                       # -> FeedReport, or FeedFailure
    with open_writer(engine, "usage", columns) as writer:          # typed rows, no CSV (a generator's path)
        writer.write(rows); writer.finish()

The format and the walk-through are in docs/feeds.md.
"""

from server_stub.feeds.report import FeedFailure, FeedReport, RowProblem
from server_stub.feeds.runner import apply_feed
from server_stub.feeds.writer import MergeCounts, TableWriter, open_writer

__all__ = ["FeedFailure", "FeedReport", "MergeCounts", "RowProblem", "TableWriter", "apply_feed", "open_writer"]
