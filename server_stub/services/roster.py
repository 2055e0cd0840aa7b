"""Tokens for a whole roster at once: `callcue-server token create --from-csv FILE`.

The file is CSV in UTF-8 (a byte-order mark, as Excel writes it, is fine) with a header line naming its
columns, in any order:

    agent_id       required; 1-64 characters, once per file
    display_name   optional; at most 100 characters (kept for a new agent)
    role           optional; agent, lead, analyst or admin (default agent for a new agent)
    team           optional; an existing team's code (`callcue-server team create`)

Every row is checked before anything is written, and then all the tokens are made in one transaction: either
every row gets its token or, when any row is wrong, none does (each wrong row is named by file, line and column,
in English and Chinese). As with `token create`, an existing agent keeps their role and team: a row may repeat
them or leave them empty, and a different one is refused with the command that changes it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from server_stub.db.models import Agent, Team
from server_stub.services.auth import ROLES, TEAM_PATTERN, create_token

COLUMNS = ("agent_id", "display_name", "role", "team")


@dataclass(frozen=True)
class RosterProblem:
    file: str
    line: int
    column: str | None
    en: str
    zh: str

    def text(self, lang: str = "en") -> str:
        if lang.startswith("zh"):
            where = f"{self.file}：第 {self.line} 行" + (f"，{self.column} 列" if self.column else "")
            return f"{where}：{self.zh}"
        where = f"{self.file}: line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.en}"


class RosterError(Exception):
    """The file cannot be used: nothing was created. `problems` names every wrong row found."""

    def __init__(self, problems: list[RosterProblem]) -> None:
        super().__init__(problems[0].text() if problems else "roster refused")
        self.problems = problems


@dataclass(frozen=True)
class RosterRow:
    line: int
    agent_id: str
    display_name: str | None
    role: str | None
    team: str | None


@dataclass(frozen=True)
class IssuedToken:
    agent_id: str
    display_name: str | None
    role: str
    team: str | None
    token: str
    new_agent: bool


def read_roster(path: Path | str) -> list[RosterRow]:
    """The rows of a roster file, or RosterError naming every problem of the file itself (no database)."""
    path = Path(path)
    name = str(path)

    def problem(line: int, column: str | None, en: str, zh: str) -> RosterProblem:
        return RosterProblem(name, line, column, en, zh)

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RosterError([problem(0, None, f"cannot read the file ({exc.strerror})",
                                   f"无法读取该文件（{exc.strerror}）")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise RosterError([problem(line, None, "the file is not UTF-8: save it as \"CSV UTF-8\"",
                                   "文件不是 UTF-8 编码：请另存为“CSV UTF-8”")]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[RosterProblem] = []
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise RosterError([problem(1, None, f"not CSV ({exc})", f"不是 CSV 格式（{exc}）")]) from None
    if not header or not any(cell.strip() for cell in header):
        raise RosterError([problem(1, None, "the file is empty: the first line names the columns ("
                                   + ", ".join(COLUMNS) + ")",
                                   "文件为空：第一行应为列名（" + "、".join(COLUMNS) + "）")])
    names = [cell.strip().lower() for cell in header]
    for index, column in enumerate(names):
        if column not in COLUMNS:
            problems.append(problem(1, header[index].strip() or f"#{index + 1}",
                                    f"unknown column: the columns are {', '.join(COLUMNS)}",
                                    f"未知的列：可用的列为 {'、'.join(COLUMNS)}"))
        elif column in names[:index]:
            problems.append(problem(1, column, "the column appears twice", "该列出现了两次"))
    if "agent_id" not in names:
        problems.append(problem(1, "agent_id", "the agent_id column is missing (it is required)",
                                "缺少 agent_id 列（必填）"))
    if problems:
        raise RosterError(problems)

    rows: list[RosterRow] = []
    first_line: dict[str, int] = {}
    end = reader.line_num
    while True:
        start = end + 1
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            problems.append(problem(start, None, f"not CSV ({exc})", f"不是 CSV 格式（{exc}）"))
            break
        end = reader.line_num
        if cells is None:
            break
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if len(cells) != len(names):
            problems.append(problem(start, None, f"{len(cells)} fields where the header has {len(names)}",
                                    f"有 {len(cells)} 个字段，而列名行有 {len(names)} 个"))
            continue
        values = {column: (cell.strip() or None) for column, cell in zip(names, cells, strict=True)}
        before = len(problems)
        agent_id, role, team, display_name = (values.get("agent_id"), values.get("role"), values.get("team"),
                                              values.get("display_name"))
        if agent_id is None:
            problems.append(problem(start, "agent_id", "empty: every row needs an agent id", "为空：每行都需要坐席编号"))
        elif len(agent_id) > 64 or any(not ch.isprintable() for ch in agent_id):
            problems.append(problem(start, "agent_id", "an agent id is 1 to 64 printable characters",
                                    "坐席编号须为 1 到 64 个可打印字符"))
        elif agent_id in first_line:
            problems.append(problem(start, "agent_id", f"{agent_id} appears again (first on line "
                                    f"{first_line[agent_id]}): one row per agent",
                                    f"{agent_id} 重复出现（首次在第 {first_line[agent_id]} 行）：每位坐席一行"))
        else:
            first_line[agent_id] = start
        if role is not None and role not in ROLES:
            problems.append(problem(start, "role", f"{role!r} is not a role: use {', '.join(ROLES)}",
                                    f"{role!r} 不是有效角色：请使用 {'、'.join(ROLES)}"))
        if team is not None and not TEAM_PATTERN.match(team):
            problems.append(problem(start, "team", f"{team!r} is not a team code (1-40 of A-Z a-z 0-9 _ . : @ -)",
                                    f"{team!r} 不是有效的班组代码（1-40 个字母、数字或 _ . : @ -）"))
        if display_name is not None and len(display_name) > 100:
            problems.append(problem(start, "display_name", "at most 100 characters", "最多 100 个字符"))
        if len(problems) == before:
            rows.append(RosterRow(start, agent_id, display_name, role, team))
    if problems:
        raise RosterError(problems)
    if not rows:
        raise RosterError([problem(1, None, "the file has no rows under its header", "文件在列名行之下没有数据行")])
    return rows


def check_roster(session: Session, rows: list[RosterRow], file: str) -> list[RosterProblem]:
    """What the database says against the rows: unknown teams, existing agents with another role or team."""
    agents = {a.agent_id: a for a in session.scalars(select(Agent).where(
        Agent.agent_id.in_([r.agent_id for r in rows])))}
    teams = set(session.scalars(select(Team.team_id).where(Team.team_id.in_({r.team for r in rows if r.team}))))
    problems: list[RosterProblem] = []
    for row in rows:
        agent = agents.get(row.agent_id)
        if row.team is not None and row.team not in teams:
            problems.append(RosterProblem(
                file, row.line, "team", f"there is no team {row.team!r}: create it first (callcue-server team create "
                f"{row.team})", f"没有班组 {row.team!r}：请先创建（callcue-server team create {row.team}）"))
        if agent is None:
            continue
        if row.role is not None and row.role != agent.role:
            problems.append(RosterProblem(
                file, row.line, "role", f"{row.agent_id} exists and is {agent.role}; a token has its agent's role: "
                f"leave the cell empty, or change the role first (callcue-server agent role {row.agent_id} {row.role})",
                f"{row.agent_id} 已存在，角色为 {agent.role}；令牌沿用坐席的角色：请留空，或先改角色（callcue-server agent "
                f"role {row.agent_id} {row.role}）"))
        if row.team is not None and row.team != agent.team:
            problems.append(RosterProblem(
                file, row.line, "team", f"{row.agent_id} exists and is in team {agent.team or '(none)'}: leave the "
                f"cell empty, or move them first (callcue-server agent team {row.agent_id} {row.team})",
                f"{row.agent_id} 已存在，属于班组 {agent.team or '（无）'}：请留空，或先调班组（callcue-server agent team "
                f"{row.agent_id} {row.team}）"))
    return problems


def issue_roster(session: Session, path: Path | str, *, created_by: str | None = None) -> list[IssuedToken]:
    """One token per row of the file, all in one transaction; RosterError (nothing written) otherwise."""
    rows = read_roster(path)
    problems = check_roster(session, rows, str(path))
    if problems:
        session.rollback()
        raise RosterError(problems)
    existing = set(session.scalars(select(Agent.agent_id).where(Agent.agent_id.in_([r.agent_id for r in rows]))))
    issued: list[IssuedToken] = []
    try:
        for row in rows:
            token = create_token(session, row.agent_id, row.role, row.display_name, created_by=created_by,
                                 team=row.team, commit=False)
            agent = session.get(Agent, row.agent_id)
            issued.append(IssuedToken(row.agent_id, agent.display_name, agent.role, agent.team, token,
                                      row.agent_id not in existing))
        session.commit()
    except BaseException:  # nothing of the roster stays when any row fails (each was checked above)
        session.rollback()
        raise
    return issued
