"""What applying one feed file did, and where its bad rows are: shared by every feed kind and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field


class FeedFailure(Exception):
    """The feed cannot be applied at all (nothing was written); en and zh_CN say why in plain words.

    `report` (row feeds) holds what was read and the located bad rows, when there are any to show."""

    def __init__(self, en: str, zh: str | None = None, report: FeedReport | None = None) -> None:
        super().__init__(en)
        self.en = en
        self.zh = zh or en
        self.report = report

    def text(self, lang: str = "en") -> str:
        return self.zh if lang.lower().startswith("zh") else self.en


@dataclass(frozen=True)
class RowProblem:
    """One bad row: where it is (file, physical line, column header) and what is wrong with which value.

    `value` is None when the value must not be shown (names, numbers, columns marked sensitive)."""

    file: str
    line: int
    column: str | None
    value: str | None
    en: str
    zh: str

    def location(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}, column {self.column!r}" if self.column else where

    def text(self, lang: str = "en") -> str:
        if lang.lower().startswith("zh"):
            where = f"{self.file} 第 {self.line} 行" + (f"，列「{self.column}」" if self.column else "")
            return f"{where}：{self.zh}"
        return f"{self.location()}: {self.en}"


@dataclass
class FeedReport:
    """inserted + updated + unchanged + deleted(explicit) + rejected == rows_read for row feeds; `retired`
    counts rows a --full snapshot no longer holds (customers and catalog entries retired, other rows
    removed)."""

    kind: str
    file: str
    mode: str  # delta or full
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    retired: int = 0
    rejected: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted or self.retired)

    def summary(self, lang: str = "en") -> str:
        rate = f"{self.rows_read / self.elapsed_s:,.0f}" if self.elapsed_s > 0 else "—"
        if lang.lower().startswith("zh"):
            head = "无任何变化（此前已导入）" if not self.changed and not self.rejected else "已导入"
            return (f"{self.kind} {self.file}：{head}；读取 {self.rows_read:,} 行，新增 {self.inserted:,}，"
                    f"更新 {self.updated:,}，未变 {self.unchanged:,}，删除 {self.deleted:,}，"
                    f"退役 {self.retired:,}，拒绝 {self.rejected:,}（{self.elapsed_s:.1f} 秒，{rate} 行/秒）")
        head = "nothing changed (already applied)" if not self.changed and not self.rejected else "applied"
        return (f"{self.kind} {self.file}: {head}; read {self.rows_read:,} rows: {self.inserted:,} new, "
                f"{self.updated:,} updated, {self.unchanged:,} unchanged, {self.deleted:,} deleted, "
                f"{self.retired:,} retired, {self.rejected:,} rejected ({self.elapsed_s:.1f} s, {rate} rows/s)")
