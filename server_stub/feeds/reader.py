"""The shared CSV reader of the row feeds: one streaming pass over the file (memory independent of its size),
bytes counted (progress, ETA) and hashed (feed_runs.file_sha256) as they are read, records with the physical
line they start on, and clear failures (en + zh_CN) for files that are not CSV text in the mapping's encoding.

What is checked when:
- before anything is written: the file exists, is not empty, does not start like a ZIP / Excel / gzip / PDF
  / UTF-16 file, and its first megabyte has no NUL byte;
- while reading: a byte that does not decode, a NUL byte, or a quote that is never closed stops the feed
  with the line it is on (the caller rolls its transaction back, so nothing is half-applied); a record
  whose quoting is broken on its own line is a bad row, and reading goes on.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from server_stub.feeds.mapping import Mapping, did_you_mean, shown
from server_stub.feeds.report import FeedFailure

_HEAD_BYTES = 1 << 20
_BUFFER_BYTES = 1 << 20
_BINARY_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)", "ZIP 压缩包（.xlsx 工作簿？）"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook", "旧版 Excel .xls 工作簿"),
    (b"\x1f\x8b", "a gzip archive", "gzip 压缩包"),
    (b"%PDF", "a PDF document", "PDF 文档"),
    (b"\xff\xfe", "UTF-16 text", "UTF-16 文本"),
    (b"\xfe\xff", "UTF-16 text", "UTF-16 文本"),
)
# csv refuses fields longer than this; a quote that is never closed runs into it
csv.field_size_limit(1 << 24)


class Record(NamedTuple):
    line: int  # physical line of the file where the record starts (the header is line 1)
    cells: list[str]
    problem: str | None  # the CSV syntax of this record is broken (cells then are empty)


def python_codec(encoding: str) -> str:
    # "utf-8" in a mapping means UTF-8 with or without the BOM that Excel writes.
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


class _CountingReader(io.RawIOBase):
    """Counts and hashes the bytes the text layer reads: progress and the file's sha256 in the same pass."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.raw.readinto(buffer)
        if count:
            self.sha256.update(memoryview(buffer)[:count])
            self.bytes_read += count
        return count

    def close(self) -> None:
        self.raw.close()
        super().close()


class FeedFile:
    """One feed file read once, start to end. Use as a context manager; records() yields the header first."""

    def __init__(self, path: Path, mapping: Mapping) -> None:
        self.path = path
        self.name = path.name
        self.mapping = mapping
        self.codec = python_codec(mapping.encoding)
        self._check_start()
        self.size = path.stat().st_size
        self._counter = _CountingReader(path.open("rb", buffering=0))
        self._text = io.TextIOWrapper(io.BufferedReader(self._counter, _BUFFER_BYTES), encoding=self.codec,
                                      errors="strict", newline="")

    def __enter__(self) -> FeedFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._text.close()

    @property
    def bytes_read(self) -> int:
        return self._counter.bytes_read

    def sha256(self) -> str:
        """The digest of the whole file (the rest is read now if reading stopped early)."""
        if not self._counter.closed:
            while self._counter.read(_BUFFER_BYTES):
                pass
        return self._counter.sha256.hexdigest()

    def _check_start(self) -> None:
        path = self.path
        try:
            stream = path.open("rb")
        except FileNotFoundError:
            raise FeedFailure(f"{path}: no such file", f"{path}：文件不存在") from None
        except IsADirectoryError:
            raise FeedFailure(f"{path} is a directory, not a CSV file", f"{path} 是目录，不是 CSV 文件") from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise FeedFailure(f"{path} cannot be read ({reason})", f"{path} 无法读取（{reason}）") from None
        with stream:
            head = stream.read(_HEAD_BYTES)
        if not head.strip():
            raise FeedFailure(f"{path.name} is empty: a CSV file starts with its header line",
                              f"{path.name} 是空文件：CSV 文件应以表头行开始")
        for signature, what_en, what_zh in _BINARY_SIGNATURES:
            if head.startswith(signature):
                raise FeedFailure(f"{path.name} is {what_en}, not a CSV text file: export or save it as CSV (UTF-8)",
                                  f"{path.name} 是{what_zh}，不是 CSV 文本文件：请导出或另存为 CSV（UTF-8）")
        if b"\x00" in head:
            raise self._nul_failure(head[: head.index(b"\x00")].count(b"\n") + 1)

    def _nul_failure(self, line: int) -> FeedFailure:
        return FeedFailure(f"{self.name} contains NUL bytes (line {line}): binary data, not a CSV text file",
                           f"{self.name} 含有 NUL 字节（第 {line} 行）：是二进制数据，不是 CSV 文本文件")

    def records(self) -> Iterator[Record]:
        """Every non-empty record, the header included. A record with broken quoting on its own line is
        reported and reading goes on; a quote that is never closed swallows the rest of the file: fatal."""
        # strict: '"abc"x' is an error instead of silently becoming 'abcx'.
        reader = csv.reader(self._text, delimiter=self.mapping.delimiter, strict=True)
        end_of_previous = 0
        while True:
            try:
                for cells in reader:
                    line = end_of_previous + 1
                    end_of_previous = reader.line_num
                    if cells and (cells[0].strip() or "".join(cells).strip()):
                        yield Record(line, cells, None)
                return
            except csv.Error as exc:
                line = end_of_previous + 1
                message = str(exc)
                if "NUL" in message:
                    raise self._nul_failure(reader.line_num) from None
                if "end of data" in message or "field larger than field limit" in message:
                    raise FeedFailure(
                        f"{self.name}: the quoted value opened on line {line} is never closed (it runs on to line "
                        f"{reader.line_num}); fix the quoting and import again",
                        f"{self.name}：第 {line} 行开始的引号值没有闭合（一直延续到第 {reader.line_num} 行）；"
                        "请修正引号后重新导入",
                    ) from None
                end_of_previous = reader.line_num
                yield Record(line, [], f"broken CSV quoting ({message})")
            except UnicodeDecodeError:
                raise self._encoding_failure() from None

    def _encoding_failure(self) -> FeedFailure:
        """Locate the first byte that does not decode (the error path only: a second pass from the start)."""
        decoder = codecs.getincrementaldecoder(self.codec)(errors="strict")
        lines_before, head = 0, b""
        with self.path.open("rb") as stream:
            while chunk := stream.read(_HEAD_BYTES):
                head = head or chunk
                pending = _pending_bytes(decoder)
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    where = max(exc.start - pending, 0)
                    line = lines_before + chunk[:where].count(b"\n") + 1
                    return self._encoding_problem(line, f"byte 0x{exc.object[exc.start:exc.start + 1].hex()}", head)
                lines_before += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return self._encoding_problem(lines_before + 1, "end of file", head)
        return FeedFailure(f"{self.name} changed while it was being imported (it no longer decodes)",
                           f"{self.name} 在导入过程中被修改（已无法解码）")

    def _encoding_problem(self, line: int, byte_text: str, head: bytes) -> FeedFailure:
        encoding = self.mapping.encoding
        en = f"{self.name} is not {encoding} text: {byte_text} on line {line} cannot be decoded."
        zh = f"{self.name} 不是 {encoding} 文本：第 {line} 行的{'文件结尾' if byte_text == 'end of file' else byte_text}无法解码。"
        if self.codec == "utf-8-sig" and _looks_like_gb18030(head):
            return FeedFailure(
                f'{en} It looks like GB18030/GBK (common for Chinese Excel exports): set encoding = "gb18030" '
                "under [csv] in the mapping, or convert the file: iconv -f GB18030 -t UTF-8 IN.csv > OUT.csv",
                f'{zh}看起来是 GB18030/GBK 编码（中文 Excel 导出常见）：请在映射的 [csv] 下设置 encoding = "gb18030"，'
                "或转换文件：iconv -f GB18030 -t UTF-8 IN.csv > OUT.csv",
            )
        return FeedFailure(f'{en} Save it as CSV UTF-8 (or set encoding = "..." under [csv] in the mapping).',
                           f'{zh}请另存为 CSV UTF-8（或在映射的 [csv] 下设置 encoding = "..."）。')


def _pending_bytes(decoder: codecs.IncrementalDecoder) -> int:
    try:
        state = decoder.getstate()
    except (AttributeError, NotImplementedError):  # pragma: no cover - every stdlib decoder has a state
        return 0
    return len(state[0]) if isinstance(state, tuple) and isinstance(state[0], bytes) else 0


def _looks_like_gb18030(head: bytes) -> bool:
    for sample in (head, head[:-1]):  # the sample may end in the middle of a character
        try:
            text = sample.decode("gb18030")
        except UnicodeDecodeError:
            continue
        return any("\u4e00" <= char <= "\u9fff" for char in text)
    return False


# ------------------------------------------------------------------------------------------ the header


def header_index(header: Sequence[str], mapping: Mapping, file_label: str,
                 extra: Sequence[tuple[str, bool]] = ()) -> dict[str, int]:
    """Column name -> position. Fails (nothing written) when a required column is missing or a used column
    appears twice; `extra` lists more (column, required) pairs the caller reads (the delete column)."""
    names = [cell.strip().removeprefix("\ufeff") for cell in header]
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(names):
        positions.setdefault(name, []).append(position)
    used: list[tuple[str, bool]] = []
    for spec in (*mapping.fields, *mapping.attributes):
        used.extend((column, spec.required) for column in spec.columns)
    used.extend((rule.column, rule.required) for rule in mapping.segment_rules)
    used.extend(extra)

    missing = list(dict.fromkeys(column for column, required in used if required and column not in positions))
    if missing:
        hint_en, hint_zh = _delimiter_hint(names, mapping, missing)
        if not any(column in positions for column, _required in used):
            # Maybe no header at all: the first line would be a row of data, so don't echo it.
            raise FeedFailure(
                f"{file_label}: its first line ({len(names)} columns) has none of the columns that mapping "
                f"{mapping.label} reads, such as {shown(missing[0])}. Is the header line missing, or is this the "
                f"wrong mapping?{hint_en}",
                f"{file_label}：第一行（{len(names)} 列）没有映射 {mapping.label} 读取的任何列，例如 {shown(missing[0])}。"
                f"是缺少表头行，还是用错了映射？{hint_zh}",
            )
        described = ", ".join(f"{shown(column)}{did_you_mean(column, names)}" for column in missing[:8])
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        shown_header = ", ".join(repr(name) for name in names[:12]) + (", …" if len(names) > 12 else "")
        raise FeedFailure(
            f"{file_label} lacks column(s) that mapping {mapping.label} requires: {described}{more}. "
            f"Its header has: {shown_header}.{hint_en}",
            f"{file_label} 缺少映射 {mapping.label} 要求的列：{described}{more}。其表头为：{shown_header}。{hint_zh}",
        )
    for column, _required in used:
        if len(positions.get(column, ())) > 1:
            places = " and ".join(str(p + 1) for p in positions[column])
            raise FeedFailure(
                f"{file_label} has two columns named {shown(column)} (columns {places}); the mapping cannot tell "
                "which to use",
                f"{file_label} 有两列都叫 {shown(column)}（第 {places.replace(' and ', '、')} 列）；映射无法确定用哪一列",
            )
    return {column: places[0] for column, places in positions.items()}


def _delimiter_hint(names: list[str], mapping: Mapping, missing: list[str]) -> tuple[str, str]:
    header_line = mapping.delimiter.join(names)
    best, best_hits = None, 0
    for candidate in (",", ";", "\t", "|"):
        if candidate == mapping.delimiter or candidate not in header_line:
            continue
        split = {part.strip().strip('"') for part in header_line.split(candidate)}
        hits = sum(column in split for column in missing)
        if hits > best_hits:
            best, best_hits = candidate, hits
    if best is None:
        return "", ""
    return (
        f" The file looks {shown(best)}-separated, but the mapping reads {shown(mapping.delimiter)}-separated files: "
        f"set delimiter = {json.dumps(best)} under [csv] in the mapping, or re-export the file.",
        f"文件看起来以 {shown(best)} 分隔，但映射读取以 {shown(mapping.delimiter)} 分隔的文件："
        f"请在映射的 [csv] 下设置 delimiter = {json.dumps(best)}，或重新导出文件。",
    )


__all__ = ["FeedFile", "Record", "header_index", "python_codec"]
