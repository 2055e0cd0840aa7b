"""Progress of a feed on a terminal: a bar over the file's bytes with rows, rows/s and the time left.

Off a terminal (a scheduled job, a pipe) nothing is drawn: the caller prints FeedReport.summary() once at
the end. rich draws the bar when it is installed; otherwise one line is rewritten in place.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from server_stub.feeds.runner import Progress

_PHASES = {
    "en": {"read": "reading", "write": "writing", "done": "done"},
    "zh": {"read": "读取", "write": "写入", "done": "完成"},
}


def _phase_names(lang: str) -> dict[str, str]:
    return _PHASES["zh" if lang.lower().startswith("zh") else "en"]


@contextlib.contextmanager
def terminal_progress(label: str, stream: TextIO | None = None, lang: str = "en") -> Iterator[Progress | None]:
    """A progress callback for apply_feed() drawing on `stream` (stderr), or None when it is no terminal."""
    stream = stream if stream is not None else sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        yield None
        return
    try:
        import rich.progress as bars
        from rich.console import Console
    except ImportError:  # pragma: no cover - rich comes with the server's dependencies in practice
        with _plain_progress(label, stream, lang) as progress:
            yield progress
        return
    names = _phase_names(lang)
    rows_word = "行" if lang.lower().startswith("zh") else "rows"
    columns = (
        bars.TextColumn("[bold]{task.description}"),
        bars.BarColumn(),
        bars.TaskProgressColumn(),
        bars.TextColumn("{task.fields[rows]:>12,} " + rows_word),
        bars.TextColumn("{task.fields[rate]:>9,.0f} " + rows_word + "/s"),
        bars.TimeRemainingColumn(),
    )
    started = time.perf_counter()
    with bars.Progress(*columns, console=Console(file=stream), transient=True) as bar:
        task = bar.add_task(f"{label} {names['read']}", total=None, rows=0, rate=0.0)

        def progress(phase: str, rows: int, done: int, total: int) -> None:
            elapsed = max(time.perf_counter() - started, 1e-6)
            bar.update(task, description=f"{label} {names.get(phase, phase)}", completed=done, total=total or None,
                       rows=rows, rate=rows / elapsed)

        yield progress


@contextlib.contextmanager
def _plain_progress(label: str, stream: TextIO, lang: str) -> Iterator[Progress]:
    names = _phase_names(lang)
    started = time.perf_counter()

    def progress(phase: str, rows: int, done: int, total: int) -> None:
        elapsed = max(time.perf_counter() - started, 1e-6)
        share = done / total if total else 0.0
        left = (elapsed / share - elapsed) if share > 0 else 0.0
        stream.write(f"\r{label} {names.get(phase, phase)} {share:6.1%} {rows:,} rows "
                     f"{rows / elapsed:,.0f} rows/s, {left:,.0f} s left ")
        stream.flush()

    try:
        yield progress
    finally:
        stream.write("\n")


__all__ = ["terminal_progress"]
