"""`callcue-server`: serve, migrate, seed, import, issue tokens, manage teams.

Exit codes: 0 ok, 1 partial (some input rows rejected), 2 cannot proceed (message says why and what to do).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from server_stub import __version__

DATABASE_URL_ENV = "CALLCUE_SERVER_DATABASE_URL"
TOKEN_CACHE_ENV = "CALLCUE_SERVER_TOKEN_CACHE_SECONDS"
REVOCATION_CHECK_ENV = "CALLCUE_SERVER_REVOCATION_CHECK_SECONDS"
ROLE_CHOICES = ("agent", "lead", "analyst", "admin")  # services/auth.ROLES (not imported: --help stays fast)
# Set for worker processes (--workers N): where and how much they log.
LOG_DIR_ENV, LOG_LEVEL_ENV = "CALLCUE_SERVER_LOG_DIR", "CALLCUE_SERVER_LOG_LEVEL"


RULES_HELP = ("an operator's rules file (default: $CALLCUE_SERVER_RULES, else the shipped rules file, which "
              "upgrades replace; yours is never touched)")


class CliError(Exception):
    """A message for the operator; the CLI prints it and exits 2."""


def _database_url(args: argparse.Namespace) -> str:
    from server_stub.paths import default_database_url

    return args.database_url or os.environ.get(DATABASE_URL_ENV) or default_database_url()


def _engine(args: argparse.Namespace, *, migrated: bool = True):
    from sqlalchemy.exc import OperationalError

    from server_stub.db.engine import DatabaseUrlError, NotMigratedError, make_engine, require_migrated

    url = _database_url(args)
    try:
        engine = make_engine(url)
        if migrated:
            require_migrated(engine)
        else:
            with engine.connect():
                pass  # reach the database now, so a bad host or password is reported plainly
        return engine
    except (DatabaseUrlError, NotMigratedError) as exc:
        raise CliError(str(exc)) from None
    except OperationalError as exc:
        raise CliError(f"Cannot open the database: {str(exc.orig).strip().splitlines()[0]}") from None


def cmd_db_upgrade(args) -> int:
    from server_stub.db.engine import current_revision, head_revision, upgrade

    engine = _engine(args, migrated=False)
    before = current_revision(engine)
    upgrade(engine)
    print(f"database at revision {head_revision()} (was {before or 'empty'})")
    return 0


def cmd_db_current(args) -> int:
    from server_stub.db.engine import current_revision, head_revision

    engine = _engine(args, migrated=False)
    current, head = current_revision(engine), head_revision()
    print(f"current: {current or 'empty'}; head: {head}; {'up to date' if current == head else 'needs upgrade'}")
    return 0 if current == head else 1


def cmd_seed(args) -> int:
    from server_stub.seed import SeedError, seed_database

    engine = _engine(args)

    def progress(done: int, total: int) -> None:
        print(f"\rseeding {done:,}/{total:,} customers", end="", file=sys.stderr, flush=True)

    try:
        summary = seed_database(engine, args.customers, args.seed, replace=args.replace, progress=progress)
    except SeedError as exc:
        raise CliError(str(exc)) from None
    print(file=sys.stderr)
    print(_describe_seed(summary))
    return 0


def _describe_seed(summary) -> str:
    counts = ", ".join(f"{table} {count:,}" for table, count in summary.table_counts().items())
    return f"seeded in {summary.elapsed_seconds:.1f} s (seed {summary.seed}): {counts}"


def _feed_lang(args) -> str:
    return "zh_CN" if (args.lang or "").lower().startswith("zh") else "en"


def _default_feed_lang() -> str:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return "zh_CN" if value.lower().startswith("zh") else "en"
    return "en"


def cmd_import(args) -> int:
    """`import KIND FILE`: apply one feed file. Exit 0 applied, 1 applied without the rejected rows that
    --max-rejects allowed, 2 nothing written (the message and the located bad rows say why)."""
    from server_stub.feeds import FeedFailure, apply_feed
    from server_stub.feeds.progress import terminal_progress

    lang = _feed_lang(args)
    engine = _engine(args)
    try:
        with terminal_progress(f"{args.import_command} {Path(args.file).name}", lang=lang) as progress:
            options = {} if args.import_command == "catalog" else {
                "mapping": args.mapping, "max_rejects": args.max_rejects, "progress": progress}
            report = apply_feed(engine, args.import_command, args.file, full=args.full, **options)
    except FeedFailure as failure:
        if failure.report is not None:
            _print_problems(failure.report, args.show_errors, lang)
        raise CliError(failure.text(lang)) from None
    finally:
        engine.dispose()
    _print_problems(report, args.show_errors, lang)
    print(report.summary(lang))
    return 1 if report.rejected else 0


def _print_problems(report, limit: int, lang: str) -> None:
    problems = report.problems
    for problem in problems[:limit]:
        print(problem.text(lang), file=sys.stderr)
    more = report.rejected - min(limit, len(problems))
    if more > 0 and len(problems) > limit:
        print(f"… 另有 {more:,} 行被拒绝" if lang.startswith("zh") else f"… and {more:,} more rejected rows",
              file=sys.stderr)


@contextlib.contextmanager
def _session(args):
    """A session on the configured (migrated) database; the engine is disposed afterwards."""
    from sqlalchemy.orm import Session

    engine = _engine(args)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def _operator() -> str:
    """Who runs the command, for the role-change log."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def cmd_token_create(args) -> int:
    if args.from_csv:
        if args.agent or args.role or args.name or args.team:
            raise CliError("--from-csv takes agents, roles, names and teams from the file: give no --agent, --role, "
                           "--name or --team with it / --from-csv 从文件读取坐席、角色、名称和班组：请勿同时指定 --agent、"
                           "--role、--name 或 --team")
        return _token_create_from_csv(args)
    if not args.agent:
        raise CliError("give --agent AGENT_ID (or --from-csv FILE for many) / 请指定 --agent 坐席编号（批量请用 --from-csv 文件）")
    if args.output:
        raise CliError("--output goes with --from-csv / --output 须与 --from-csv 一起使用")
    from server_stub.services.auth import agent_role, create_token

    with _session(args) as session:
        try:
            token = create_token(session, args.agent, args.role, args.name, created_by=_operator(), team=args.team)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        role = agent_role(session, args.agent)
    print(token)
    print(f"token for {args.agent} ({role}); it is shown only once — store it now.", file=sys.stderr)
    return 0


def _token_create_from_csv(args) -> int:
    """One token per row of a roster file, all or nothing (services/roster.py). The tokens go to stdout, or to
    --output (a new file, readable by its owner only), as CSV: agent_id, display_name, role, team, token."""
    import csv

    from server_stub.services.roster import RosterError, issue_roster, read_roster

    lang = _feed_lang(args)
    try:
        read_roster(args.from_csv)  # the file's own problems are reported before the database is opened
    except RosterError as exc:
        return _roster_refused(exc, lang)
    output = None
    if args.output:
        try:
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CliError(f"{args.output} exists: tokens are written to a new file only / {args.output} 已存在："
                           "令牌只写入新文件") from None
        except OSError as exc:
            raise CliError(f"cannot create {args.output}: {exc.strerror}") from None
        output = os.fdopen(fd, "w", encoding="utf-8", newline="")
    try:
        with _session(args) as session:
            try:
                issued = issue_roster(session, args.from_csv, created_by=_operator())
            except RosterError as exc:
                return _roster_refused(exc, lang)
        writer = csv.writer(output or sys.stdout, lineterminator="\n")
        writer.writerow(["agent_id", "display_name", "role", "team", "token"])
        for item in issued:
            writer.writerow([item.agent_id, item.display_name or "", item.role, item.team or "", item.token])
    finally:
        if output is not None:
            output.close()
            if not os.path.getsize(args.output):
                os.unlink(args.output)  # nothing issued: leave no empty token file behind
    new = sum(1 for item in issued if item.new_agent)
    where = f" in {args.output}" if args.output else ""
    print(f"{len(issued)} token(s){where} ({new} new agent(s)); they are shown only once — store them now. / "
          f"已签发 {len(issued)} 个令牌（新坐席 {new} 名），仅显示这一次，请立即保存。", file=sys.stderr)
    return 0


def _roster_refused(exc, lang: str) -> int:
    for problem in exc.problems:
        print(problem.text(lang), file=sys.stderr)
    print(f"callcue-server: {len(exc.problems)} problem(s): no token was created / 发现 {len(exc.problems)} 处问题："
          "未签发任何令牌", file=sys.stderr)
    return 2


def cmd_token_list(args) -> int:
    """Tokens with their agent, role, team, creation and last use: never a secret."""
    import json

    from server_stub.services.auth import LAST_USE_RESOLUTION
    from server_stub.services.teams import list_tokens

    with _session(args) as session:
        tokens = list_tokens(session, agent_id=args.agent, team=args.team, include_revoked=args.all)
    if args.json:
        for token in tokens:
            print(json.dumps(token.as_dict(), ensure_ascii=False))
        return 0
    print("token_id\tagent\trole\tteam\tcreated\tlast used" + ("\trevoked" if args.all else ""))
    for token in tokens:
        row = token.as_dict()
        print("\t".join([row["token_id"], row["agent_id"], row["role"], row["team"] or "-", row["created_at"],
                         row["last_used_at"] or "never"] + ([row["revoked_at"] or "-"] if args.all else [])))
    minutes = int(LAST_USE_RESOLUTION.total_seconds() // 60)
    print(f"{len(tokens)} token(s); last use to within {minutes} minutes / 共 {len(tokens)} 个令牌；最近使用时间精确到 "
          f"{minutes} 分钟", file=sys.stderr)
    return 0


def cmd_agent_role(args) -> int:
    """Change an agent's role: every token of theirs follows (within --token-cache-seconds on running
    servers); the change is logged in the database (`audit roles`)."""
    from server_stub.services.auth import RoleError, set_role

    with _session(args) as session:
        try:
            old, new = set_role(session, args.agent, args.role, changed_by=_operator(), reason=args.reason)
        except RoleError as exc:
            raise CliError(str(exc)) from None
    if old == new:
        print(f"{args.agent} is already {new}: nothing changed / {args.agent} 已是 {new}，未做更改")
    else:
        print(f"{args.agent}: {old} -> {new} (logged; every token of {args.agent} has the new role within the "
              f"servers' token cache time) / {args.agent}：{old} -> {new}（已记录；该坐席的所有令牌随之生效）")
    return 0


def cmd_agent_team(args) -> int:
    """Put an agent in a team (or in none with --none): outbound waves assigned to the team open to them."""
    from server_stub.services.auth import RoleError, set_team

    if bool(args.team) == bool(args.none):
        raise CliError("give a team name, or --none to take the agent out of their team")
    with _session(args) as session:
        try:
            old, new = set_team(session, args.agent, None if args.none else args.team, create_missing=False)
        except RoleError as exc:
            raise CliError(str(exc)) from None
    print(f"{args.agent}: team {old or '(none)'} -> {new or '(none)'} / {args.agent}：班组 {old or '（无）'} -> "
          f"{new or '（无）'}")
    return 0


def cmd_agent_list(args) -> int:
    from sqlalchemy import func, select

    from server_stub.db.models import Agent, ApiToken

    with _session(args) as session:
        active = dict(session.execute(
            select(ApiToken.agent_id, func.count()).where(ApiToken.revoked_at.is_(None)).group_by(ApiToken.agent_id)
        ).all())
        agents = session.scalars(select(Agent).order_by(Agent.agent_id)).all()
        for agent in agents:
            print(f"{agent.agent_id}\t{agent.role}\tteam {agent.team or '-'}\t"
                  f"{active.get(agent.agent_id, 0)} active token(s)")
    return 0


def _parse_when(text: str | None, option: str):
    """A date (YYYY-MM-DD, midnight UTC) or an ISO time with a zone, for the audit's --since / --until."""
    import datetime as dt

    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option} {text!r}: give a date (2026-12-01) or a time with a zone "
                       "(2026-12-01T09:00+08:00)") from None
    if value.tzinfo is None:
        if len(text) > 10:
            raise CliError(f"{option} {text!r}: a time needs a zone (e.g. +08:00 or Z)")
        value = value.replace(tzinfo=dt.UTC)
    return value


def cmd_audit_access(args) -> int:
    """Who read which customer, when, through which route (newest first)."""
    import json

    from server_stub.services.audit import query_access

    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    since, until = _parse_when(args.since, "--since"), _parse_when(args.until, "--until")
    with _session(args) as session:
        rows = query_access(session, agent_id=args.agent, customer_id=args.customer, route=args.route, since=since,
                            until=until, limit=args.limit)
    for row in rows:
        if args.json:
            print(json.dumps(row.as_dict(), ensure_ascii=False))
        else:
            print(f"{row.at.isoformat(timespec='seconds')}\t{row.agent_id}\t{row.route}\t{row.customer_id}\t"
                  f"{row.decision_id or '-'}\ttoken {row.token_id or '-'}")
    if not args.json:
        print(f"{len(rows)} row(s)" + (f" (--limit {args.limit}: there may be more)" if len(rows) == args.limit else ""),
              file=sys.stderr)
    return 0


def cmd_audit_roles(args) -> int:
    import json

    from server_stub.services.audit import role_changes

    with _session(args) as session:
        for change in role_changes(session, args.agent):
            entry = {"at": change.changed_at.isoformat(timespec="seconds"), "agent_id": change.agent_id,
                     "old_role": change.old_role, "new_role": change.new_role, "by": change.changed_by,
                     "reason": change.reason}
            if args.json:
                print(json.dumps(entry, ensure_ascii=False))
            else:
                print(f"{entry['at']}\t{change.agent_id}\t{change.old_role or '(new)'} -> {change.new_role}\t"
                      f"by {change.changed_by or '?'}" + (f"\t{change.reason}" if change.reason else ""))
    return 0


def cmd_audit_prune(args) -> int:
    from server_stub.services.audit import prune_access

    before = _parse_when(args.before, "--before")
    with _session(args) as session:
        deleted = prune_access(session, before)
    print(f"deleted {deleted:,} access audit row(s) from before {before.isoformat()}")
    return 0


def cmd_report_outbound(args) -> int:
    """外呼接通率 and acceptance per campaign, wave and attempt number (services/worklist.outbound_figures)."""
    import json

    from server_stub.services.worklist import outbound_figures, render_figures

    since, until = _parse_when(args.since, "--since"), _parse_when(args.until, "--until")
    engine = _engine(args)
    try:
        with engine.connect() as conn:
            figures = outbound_figures(conn, campaign_id=args.campaign, since=since, until=until)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps({"since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
                          "rows": [row.as_dict() for row in figures.rows]}, ensure_ascii=False))
    else:
        print(render_figures(figures, args.lang))
    return 0


def cmd_token_revoke(args) -> int:
    """Revoke every token of an agent (--agent) or one token (--token-id, from `token list`): every server
    refuses it from its next request."""
    from server_stub.services.auth import revoke_token, revoke_tokens

    if bool(args.agent) == bool(args.token_id):
        raise CliError("give --agent AGENT_ID (all their tokens) or --token-id ID (one token) / 请指定 --agent "
                       "坐席编号（其全部令牌）或 --token-id 编号（单个令牌）")
    with _session(args) as session:
        if args.agent:
            count = revoke_tokens(session, args.agent)
            print(f"revoked {count} token(s) of {args.agent} / 已吊销 {args.agent} 的 {count} 个令牌")
        else:
            count = revoke_token(session, args.token_id)
            if not count:
                raise CliError(f"no active token {args.token_id} (token list --all shows every token) / 没有有效令牌 "
                               f"{args.token_id}（token list --all 列出全部令牌）")
            print(f"revoked token {args.token_id} / 已吊销令牌 {args.token_id}")
    return 0


def cmd_team_create(args) -> int:
    from server_stub.services.teams import create_team

    with _session(args) as session:
        try:
            create_team(session, args.team, args.name)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    print(f"team {args.team} created / 已创建班组 {args.team}")
    return 0


def cmd_team_rename(args) -> int:
    from server_stub.services.teams import rename_team

    with _session(args) as session:
        try:
            old, new = rename_team(session, args.team, args.name)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    print(f"team {args.team}: {old or '(no name)'} -> {new} (the code {args.team} stays) / 班组 {args.team}："
          f"{old or '（无名称）'} -> {new}（代码 {args.team} 不变）")
    return 0


def cmd_team_delete(args) -> int:
    from server_stub.services.teams import delete_team

    with _session(args) as session:
        try:
            delete_team(session, args.team)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    print(f"team {args.team} deleted / 已删除班组 {args.team}")
    return 0


def cmd_team_lead(args) -> int:
    """Make a lead lead a team besides the one they are in (or stop, --remove)."""
    from server_stub.services.teams import set_lead

    with _session(args) as session:
        try:
            changed = set_lead(session, args.team, args.agent, leads=not args.remove)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    if args.remove:
        print(f"{args.agent} no longer leads {args.team} / {args.agent} 不再领导 {args.team}" if changed else
              f"{args.agent} did not lead {args.team}: nothing changed / {args.agent} 本未领导 {args.team}，未做更改")
    else:
        print(f"{args.agent} leads {args.team} / {args.agent} 领导 {args.team}" if changed else
              f"{args.agent} leads {args.team} already: nothing changed / {args.agent} 已领导 {args.team}，未做更改")
    return 0


def cmd_team_list(args) -> int:
    """Every team with its display name, leads and agents; then the agents in no team."""
    import json

    from server_stub.services.teams import list_teams

    with _session(args) as session:
        teams = list_teams(session)
    for team in teams:
        if args.json:
            print(json.dumps(team.as_dict(), ensure_ascii=False))
            continue
        name = "(no team) / （无班组）" if team.team_id is None else (
            team.team_id + (f" ({team.display_name})" if team.display_name else ""))
        print(f"{name}\tleads: {', '.join(team.leads) or '-'}\tagents ({len(team.agents)}): "
              f"{', '.join(team.agents) or '-'}")
    return 0


def _rules_file(option: str | None) -> tuple[Path, object]:
    """The rules file `option` names (else $CALLCUE_SERVER_RULES, else the shipped one), loaded; a missing or
    invalid file is a CliError naming it."""
    from server_stub.domain.rules import RulesError, load_rules
    from server_stub.paths import configured_rules_path

    path = configured_rules_path(option)
    try:
        return path, load_rules(path)
    except RulesError as exc:
        raise CliError(f"{exc} (rules file {path})") from None


def _live_catalog(engine):
    """The catalog in the database, as `rules check` compares it (offers; channels in use)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from server_stub.db.models import Campaign, ContactCap, CustomerCap, Offer, Wave
    from server_stub.domain.rules_check import LiveCatalog

    with Session(engine) as session:
        offers = {o.offer_id: (o.category, bool(o.active and o.retired_at is None))
                  for o in session.scalars(select(Offer))}
        live = set(session.scalars(select(Campaign.campaign_id).where(Campaign.active, Campaign.retired_at.is_(None))))
        channels: dict[str, list[str]] = {}
        for wave in session.scalars(select(Wave).order_by(Wave.campaign_id, Wave.seq)):
            if wave.campaign_id in live:
                channels.setdefault(wave.channel, []).append(f"campaign {wave.campaign_id} wave {wave.seq}")
        for cap in session.scalars(select(ContactCap).order_by(ContactCap.campaign_id, ContactCap.channel)):
            if cap.campaign_id in live:
                channels.setdefault(cap.channel, []).append(f"campaign {cap.campaign_id} cap")
        for cap in session.scalars(select(CustomerCap).order_by(CustomerCap.channel)):
            channels.setdefault(cap.channel, []).append("customer cap")
    return LiveCatalog(offers, {channel: tuple(uses) for channel, uses in channels.items()})


def cmd_rules_check(args) -> int:
    """Validate a rules file; with a database (--database-url or $CALLCUE_SERVER_DATABASE_URL), against its
    live catalog too. Exit 2 on errors; warnings are printed and exit 0."""
    from server_stub.domain.rules_check import ERROR, check_rules

    path, rules = _rules_file(args.file)
    print(f"{path}: rules version {rules.version}")
    catalog = None
    if args.database_url or os.environ.get(DATABASE_URL_ENV):
        engine = _engine(args)
        catalog = _live_catalog(engine)
        where = engine.url.render_as_string(hide_password=True)
        engine.dispose()
        active = sum(1 for _, live in catalog.offers.values() if live)
        print(f"checked against the catalog in {where} ({active} active offers of {len(catalog.offers)}) / "
              f"已对照数据库中的产品目录检查（在用产品 {active} 个，共 {len(catalog.offers)} 个）")
    else:
        print("no database given: the file alone was checked (--database-url checks it against the live "
              "catalog) / 未指定数据库：仅检查了文件本身（加 --database-url 可对照在用产品目录）")
    findings = check_rules(rules, catalog)
    for finding in findings:
        print(finding.text("en"), file=sys.stderr)
        print("  " + finding.text("zh"), file=sys.stderr)
    errors = sum(f.severity == ERROR for f in findings)
    warnings = len(findings) - errors
    if errors:
        print(f"{path}: {errors} error(s), {warnings} warning(s): not fit to serve / "
              f"{errors} 个错误，{warnings} 个警告：不可用于服务", file=sys.stderr)
        return 2
    print(f"{path}: valid" + (f", {warnings} warning(s)" if warnings else "")
          + " / 有效" + (f"，{warnings} 个警告" if warnings else ""))
    return 0


def _audience_lang(args) -> str:
    return "zh" if args.lang.lower().startswith("zh") else "en"


def _audience_run(args, action) -> int:
    """Conditions are parsed before the database is opened (a bad one fails fast, located); an AudienceError
    is printed in --lang (and as JSON on stdout with --json) and exits 2."""
    import json

    from server_stub.services.audience import AudienceError, parse_condition

    lang = _audience_lang(args)
    try:
        conditions = [parse_condition(text, index) for index, text in enumerate(args.where, start=1)]
        result, text = action(conditions, lang)
    except AudienceError as exc:
        print(f"callcue-server: {exc.text(lang)}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": {"en": exc.en, "zh": exc.zh}}, ensure_ascii=False))
        return 2
    print(json.dumps(result.as_dict(), ensure_ascii=False, default=str) if args.json else text)  # one line
    return 0


def cmd_audience_preview(args) -> int:
    from server_stub.services.audience import preview, render_preview

    def action(conditions, lang):
        _, rules = _rules_file(args.rules)
        engine = _engine(args)
        try:
            result = preview(engine, rules, args.campaign, args.wave, conditions)
        finally:
            engine.dispose()
        return result, render_preview(result, lang)

    return _audience_run(args, action)


def cmd_audience_apply(args) -> int:
    from server_stub.services.audience import apply, render_applied

    def action(conditions, lang):
        engine = _engine(args)
        try:
            result = apply(engine, args.campaign, args.wave, conditions, priority=args.priority, reason=args.reason)
        finally:
            engine.dispose()
        return result, render_applied(result, lang)

    return _audience_run(args, action)


def cmd_audience_facts(args) -> int:
    from server_stub.services.audience import audience_facts_text

    print(audience_facts_text(_audience_lang(args)))
    return 0


def cmd_openapi(args) -> int:
    import json

    from server_stub.api.openapi import openapi_document

    text = json.dumps(openapi_document(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _serve(app_or_factory, args, *, factory: bool = False) -> None:
    import uvicorn

    uvicorn.run(
        app_or_factory, host=args.host, port=args.port, workers=getattr(args, "workers", 1) or 1,
        factory=factory, access_log=False, log_level="warning", server_header=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=getattr(args, "tls_cert", None), ssl_keyfile=getattr(args, "tls_key", None),
    )


def _configure_logging(args, *, shared: bool = False) -> Path | None:
    from server_stub.logging_setup import configure_logging
    from server_stub.paths import log_dir

    return configure_logging(Path(args.log_dir) if args.log_dir else log_dir(), args.log_level, shared=shared)


def _rate_limits(args):
    """The limits of `serve`: built-in defaults, then $CALLCUE_SERVER_{POP,SEARCH}_{PER_MINUTE,BURST}, then
    the options."""
    from server_stub.services.limits import Limit, RateLimits

    try:
        limits = RateLimits.from_environment()
        return RateLimits(**{
            route: Limit(
                default.per_minute if getattr(args, f"{route}_per_minute") is None
                else getattr(args, f"{route}_per_minute"),
                default.burst if getattr(args, f"{route}_burst") is None else getattr(args, f"{route}_burst"))
            for route, default in (("pop", limits.pop), ("search", limits.search), ("unpopped", limits.unpopped),
                                   ("worklist", limits.worklist))
        })
    except ValueError as exc:
        raise CliError(f"rate limits: {exc}") from None


def _describe_limits(limits) -> str:
    def one(limit) -> str:
        return f"{limit.per_minute:g}/min, bursts of {limit.burst}" if limit.enabled else "off"

    return (f"per-token limits (each server process): pop {one(limits.pop)}; search {one(limits.search)}; "
            f"outcomes without a pop {one(limits.unpopped)}; worklist {one(limits.worklist)}")


def cmd_serve(args) -> int:
    from server_stub.api.app import RULES_ENV, create_app
    from server_stub.domain.rules import RulesError
    from server_stub.logging_setup import LogRotator

    limits = _rate_limits(args)
    url = _database_url(args)
    _engine(args).dispose()  # fail fast, once, with a plain message, before any worker starts
    rules_path, rules = _rules_file(args.rules)  # likewise: a bad rules file stops here
    log_path = _configure_logging(args, shared=args.workers > 1)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise CliError("--tls-cert and --tls-key go together (a PEM certificate chain and its private key)")
    for option in (args.tls_cert, args.tls_key):
        if option and not Path(option).is_file():
            raise CliError(f"TLS file {option!r} does not exist")
    scheme = "https" if args.tls_cert else "http"
    print(f"CallCue analytics server {__version__} on {scheme}://{args.host}:{args.port} (API under /v1)",
          file=sys.stderr)
    print(f"rules: {rules_path} (version {rules.version})", file=sys.stderr)
    print(_describe_limits(limits), file=sys.stderr)
    if args.workers > 1:
        # Workers are separate processes: each builds its app from the environment.
        os.environ[DATABASE_URL_ENV] = url
        os.environ[RULES_ENV] = str(rules_path.resolve())
        os.environ[TOKEN_CACHE_ENV] = str(args.token_cache_seconds)
        os.environ[REVOCATION_CHECK_ENV] = str(args.revocation_check_seconds)
        os.environ[LOG_LEVEL_ENV] = args.log_level
        os.environ.update(limits.environment())
        if log_path is not None:
            os.environ[LOG_DIR_ENV] = str(log_path.parent)
        rotator = LogRotator(log_path).start() if log_path is not None else None
        try:
            _serve("server_stub.api.asgi:app_from_environment", args, factory=True)
        finally:
            if rotator is not None:
                rotator.stop()
        return 0
    try:
        app = create_app(url, rules_path=rules_path, token_ttl_seconds=args.token_cache_seconds, rate_limits=limits,
                         revocation_check_seconds=args.revocation_check_seconds, long_running=True)
    except RulesError as exc:
        raise CliError(str(exc)) from None
    _serve(app, args)
    return 0


def demo_callers(session) -> list[dict[str, str]]:
    """Sample callers that show what the panel does: a complaint-sensitive, a price-sensitive and a
    calm customer with offers to pitch (each with a phone number)."""
    from sqlalchemy import select

    from server_stub.db.models import Complaint, Customer, CustomerNumber

    def first(kind: str, *conditions) -> dict[str, str] | None:
        row = session.execute(
            select(Customer.customer_id, CustomerNumber.msisdn)
            .join(CustomerNumber, CustomerNumber.customer_id == Customer.customer_id)
            .where(*conditions).order_by(Customer.customer_id).limit(1)
        ).first()
        return {"kind": kind, "customer_id": row[0], "ani": row[1]} if row else None

    open_complaint = select(Complaint.customer_id).where(Complaint.status == "open")
    found = [
        first("price_sensitive", Customer.bill_inquiries_3m >= 3, Customer.downgrades_12m >= 1,
              Customer.dnd.is_(False), Customer.customer_id.not_in(open_complaint)),
        first("complaint_sensitive", Customer.customer_id.in_(open_complaint), Customer.dnd.is_(False)),
        first("calm", Customer.bill_inquiries_3m == 0, Customer.downgrades_12m == 0, Customer.dnd.is_(False),
              Customer.churn_risk >= 0.6, Customer.customer_id.not_in(select(Complaint.customer_id))),
    ]
    return [caller for caller in found if caller]


def cmd_demo(args) -> int:
    """Everything a first look needs: a seeded database, an agent token, the server on loopback."""
    import json

    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from server_stub.api.app import create_app
    from server_stub.db.engine import make_engine, upgrade
    from server_stub.db.models import Customer
    from server_stub.seed import seed_database
    from server_stub.services.auth import create_token

    rules_path, _rules = _rules_file(args.rules)
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="callcue-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{data_dir / 'demo.sqlite3'}")
    upgrade(engine)
    with Session(engine) as session:
        existing = session.scalar(select(func.count()).select_from(Customer))
        if not existing:
            print(f"seeding {args.customers:,} sample customers into {data_dir} …", file=sys.stderr)
            summary = seed_database(engine, args.customers, args.seed)
            print(_describe_seed(summary), file=sys.stderr)
        token = create_token(session, "demo-agent", "lead", "Demo agent")
        callers = demo_callers(session)
    _configure_logging(argparse.Namespace(log_dir=str(data_dir / "logs"), log_level="INFO"))
    base = f"http://{args.host}:{args.port}"
    if args.json:
        # One line for the desktop demo (or any script) to read: where, who, whom to call.
        print(json.dumps({"base_url": base, "token": token, "agent_id": "demo-agent", "callers": callers,
                          "data_dir": str(data_dir)}), flush=True)
    print(f"CallCue demo server: {base}/v1/health", file=sys.stderr)
    print(f"  token (demo-agent, lead): {token}", file=sys.stderr)
    for caller in callers:
        print(f"  try ({caller['kind']}): curl -H 'Authorization: Bearer {token}' "
              f"'{base}/v1/pop?ani={caller['ani']}'", file=sys.stderr)
    print("  Ctrl-C stops it.", file=sys.stderr)
    _serve(create_app(engine=engine, rules_path=rules_path, long_running=True), args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcue-server", description="CallCue reference analytics server")
    parser.add_argument("--version", action="version", version=f"callcue-server {__version__}")
    db_parent = argparse.ArgumentParser(add_help=False)
    db_parent.add_argument(
        "--database-url",
        help=f"sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST/DB (default: ${DATABASE_URL_ENV} "
        "or SQLite in the platform data directory)",
    )
    log_parent = argparse.ArgumentParser(add_help=False)
    log_parent.add_argument("--log-dir", help="where server.log goes (default: the platform log directory)")
    log_parent.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[db_parent, log_parent], help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (PostgreSQL: scale out)")
    serve.add_argument("--token-cache-seconds", type=float, default=10.0,
                       help="how long a verified token is kept in memory (a revocation or role change still takes "
                            "effect at once: every request reads the auth generation)")
    serve.add_argument("--revocation-check-seconds", type=float, default=0.0,
                       help="read the auth generation at most this often per process instead of on every request "
                            "(a revocation then takes up to this long; default 0: at once)")
    serve.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain); needs --tls-key")
    serve.add_argument("--tls-key", help="the certificate's PEM private key")
    serve.add_argument("--rules", metavar="FILE", help=RULES_HELP)
    limits = serve.add_argument_group(
        "per-token rate limits", "GET /v1/pop, GET /v1/customers, /v1/worklist/next and outcomes without a pop "
        "(POST /v1/outcomes items without decision_id, counted per item) per token, in each server process (429 "
        "with Retry-After beyond them); 0 per minute turns a limit off. Defaults: pop 60/min in bursts of 60, "
        "search 10/min in bursts of 30, unpopped 30/min in bursts of 200, worklist (next customer) 30/min in "
        "bursts of 30, or $CALLCUE_SERVER_POP_PER_MINUTE, …_POP_BURST, …_SEARCH_PER_MINUTE, …_SEARCH_BURST, "
        "…_UNPOPPED_PER_MINUTE, …_UNPOPPED_BURST, …_WORKLIST_PER_MINUTE, …_WORKLIST_BURST")
    for route in ("pop", "search", "unpopped", "worklist"):
        limits.add_argument(f"--{route}-per-minute", type=float, metavar="N", help=f"{route} requests a minute")
        limits.add_argument(f"--{route}-burst", type=int, metavar="N", help=f"{route} requests at once")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database migrations").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", parents=[db_parent], help="create or migrate the schema").set_defaults(
        func=cmd_db_upgrade)
    db.add_parser("current", parents=[db_parent], help="show the schema revision").set_defaults(
        func=cmd_db_current)

    seed = sub.add_parser("seed", parents=[db_parent], help="generate deterministic sample data")
    seed.add_argument("--customers", type=int, required=True)
    seed.add_argument("--seed", type=int, default=42)
    seed.add_argument("--replace", action="store_true", help="delete existing customers first")
    seed.set_defaults(func=cmd_seed)

    imp = sub.add_parser("import", help="apply a feed file (docs/feeds.md)").add_subparsers(
        dest="import_command", required=True)
    feed_help = {
        "customers": "customers (CSV; numbers may ride along)", "numbers": "phone numbers of customers (CSV)",
        "usage": "monthly usage (CSV)", "bills": "monthly bills (CSV)", "complaints": "complaints (CSV)",
        "contacts": "contact history from every channel (CSV)", "subscriptions": "products held (CSV)",
        "scores": "the operator's model scores (CSV)", "members": "campaign target lists (CSV)",
        "catalog": "offers, campaigns, waves and caps (TOML)",
    }
    for kind, text in feed_help.items():
        feed = imp.add_parser(kind, parents=[db_parent], help=text)
        feed.add_argument("file")
        feed.add_argument("--full", action="store_true",
                          help="the file is a full snapshot: what it no longer holds is retired or removed")
        if kind != "catalog":
            feed.add_argument("--mapping", help=f"mapping file or shipped name (default: the standard {kind} "
                                                "mapping; customers also: generic, ibm-telco)")
            feed.add_argument("--max-rejects", type=int, default=0, metavar="N",
                              help="apply the file without up to N bad rows (exit 1) instead of not at all (exit 2)")
        feed.add_argument("--show-errors", type=int, default=20, metavar="N", help="how many bad rows to list")
        feed.add_argument("--lang", choices=["en", "zh_CN", "zh"], default=_default_feed_lang(),
                          help="language of the messages (default: from $LANG)")
        feed.set_defaults(func=cmd_import)

    token = sub.add_parser("token", help="agent tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", parents=[db_parent], help="issue a token (printed once), or one per row of "
                                                                   "a CSV roster (--from-csv)")
    create.add_argument("--agent", help="agent id (required without --from-csv)")
    create.add_argument("--role", choices=list(ROLE_CHOICES),
                        help="a new agent's role (default agent); for an existing agent only their role "
                             "(tokens have the agent's role: `agent role` changes it)")
    create.add_argument("--name", help="display name")
    create.add_argument("--team", help="a new agent's team (an existing team, `team create`); for an existing agent "
                                       "only their team (`agent team` moves them)")
    create.add_argument("--from-csv", metavar="FILE",
                        help="a roster: CSV in UTF-8 with a header naming agent_id (required), display_name, role, "
                             "team; every row is checked first, then all tokens are made at once or none")
    create.add_argument("--output", metavar="FILE",
                        help="with --from-csv: write the tokens to this new file (mode 600) instead of stdout")
    create.add_argument("--lang", choices=["en", "zh_CN", "zh"], default=_default_feed_lang(),
                        help="language of a roster's problems (default: from $LANG)")
    create.set_defaults(func=cmd_token_create)
    listing = token.add_parser("list", parents=[db_parent],
                               help="tokens: agent, role, team, created, last use (never the secret)")
    listing.add_argument("--agent", help="one agent's tokens")
    listing.add_argument("--team", help="the tokens of one team's agents")
    listing.add_argument("--all", action="store_true", help="revoked tokens too")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    listing.set_defaults(func=cmd_token_list)
    revoke = token.add_parser("revoke", parents=[db_parent],
                              help="revoke all tokens of an agent, or one token (refused at once by every server)")
    revoke.add_argument("--agent", help="revoke every token of this agent")
    revoke.add_argument("--token-id", help="revoke this one token (its id from `token list`)")
    revoke.set_defaults(func=cmd_token_revoke)

    agent = sub.add_parser("agent", help="agents and their roles").add_subparsers(dest="agent_command", required=True)
    role = agent.add_parser("role", parents=[db_parent],
                            help="change an agent's role (every token of theirs; logged, see `audit roles`)")
    role.add_argument("agent", help="agent id")
    role.add_argument("role", choices=list(ROLE_CHOICES))
    role.add_argument("--reason", help="why, kept in the log (at most 200 characters)")
    role.set_defaults(func=cmd_agent_role)
    agent.add_parser("list", parents=[db_parent], help="agents, roles, teams and active tokens").set_defaults(
        func=cmd_agent_list)
    team = agent.add_parser("team", parents=[db_parent],
                            help="put an agent in a team (its leads lead them; outbound waves may be assigned to it)")
    team.add_argument("agent", help="agent id")
    team.add_argument("team", nargs="?", help="an existing team's code (`team create`)")
    team.add_argument("--none", action="store_true", help="take the agent out of their team")
    team.set_defaults(func=cmd_agent_team)

    teams = sub.add_parser("team", help="teams (班组) and their leads (docs/roles.md)").add_subparsers(
        dest="team_command", required=True)
    team_create = teams.add_parser("create", parents=[db_parent], help="create a team")
    team_create.add_argument("team", help="its code: 1-40 of A-Z a-z 0-9 _ . : @ -, never changes")
    team_create.add_argument("--name", help="display name (e.g. 携号转网挽留一组)")
    team_create.set_defaults(func=cmd_team_create)
    team_rename = teams.add_parser("rename", parents=[db_parent], help="change a team's display name (not its code)")
    team_rename.add_argument("team", help="team code")
    team_rename.add_argument("name", help="the new display name")
    team_rename.set_defaults(func=cmd_team_rename)
    team_delete = teams.add_parser("delete", parents=[db_parent], help="delete a team nobody is in")
    team_delete.add_argument("team", help="team code")
    team_delete.set_defaults(func=cmd_team_delete)
    team_lead = teams.add_parser("lead", parents=[db_parent],
                                 help="make a lead lead a team besides their own (--remove: stop)")
    team_lead.add_argument("team", help="team code")
    team_lead.add_argument("agent", help="the lead's agent id")
    team_lead.add_argument("--remove", action="store_true", help="stop leading the team")
    team_lead.set_defaults(func=cmd_team_lead)
    team_list = teams.add_parser("list", parents=[db_parent], help="teams with their leads and agents")
    team_list.add_argument("--json", action="store_true", help="one JSON object a line")
    team_list.set_defaults(func=cmd_team_list)

    audit = sub.add_parser("audit", help="who read which customer; role changes").add_subparsers(
        dest="audit_command", required=True)
    access = audit.add_parser("access", parents=[db_parent],
                              help="which agent read which customer, when, through which route (newest first)")
    access.add_argument("--agent", help="one agent id")
    access.add_argument("--customer", help="one customer id")
    access.add_argument("--route", choices=["pop", "pop_ambiguous", "search", "worklist"])
    access.add_argument("--since", help="from this date (UTC) or time with a zone, inclusive")
    access.add_argument("--until", help="to this date (UTC) or time with a zone, exclusive")
    access.add_argument("--limit", type=int, default=100, help="at most this many rows (default 100)")
    access.add_argument("--json", action="store_true", help="one JSON object a line")
    access.set_defaults(func=cmd_audit_access)
    roles = audit.add_parser("roles", parents=[db_parent], help="every role an agent was given, oldest first")
    roles.add_argument("--agent", help="one agent id")
    roles.add_argument("--json", action="store_true", help="one JSON object a line")
    roles.set_defaults(func=cmd_audit_roles)
    prune = audit.add_parser("prune", parents=[db_parent], help="delete access audit rows older than a date")
    prune.add_argument("--before", required=True, help="a date (UTC) or time with a zone")
    prune.set_defaults(func=cmd_audit_prune)

    report = sub.add_parser("report", help="figures for the statistics").add_subparsers(
        dest="report_command", required=True)
    outbound = report.add_parser("outbound", parents=[db_parent],
                                 help="外呼接通率 (connected ÷ attempts) and acceptance per campaign, wave and attempt")
    outbound.add_argument("--campaign", help="one campaign id")
    outbound.add_argument("--since", help="attempts from this date (UTC) or time with a zone, inclusive")
    outbound.add_argument("--until", help="attempts to this date (UTC) or time with a zone, exclusive")
    outbound.add_argument("--json", action="store_true", help="one JSON object")
    outbound.add_argument("--lang", default="en", choices=["en", "zh_CN", "zh"], help="language of the table")
    outbound.set_defaults(func=cmd_report_outbound)

    rules = sub.add_parser("rules", help="decision rules").add_subparsers(dest="rules_command", required=True)
    check = rules.add_parser(
        "check", parents=[db_parent],
        help="validate a rules file (against the live catalog when a database is given or configured)")
    check.add_argument("file", nargs="?", help="default: $CALLCUE_SERVER_RULES, else the shipped rules")
    check.set_defaults(func=cmd_rules_check)

    audience = sub.add_parser(
        "audience", help="audiences by condition: preview the statistics, then load them into a campaign",
    ).add_subparsers(dest="audience_command", required=True)
    for name, func, text in (
        ("preview", cmd_audience_preview, "count and break down the customers the conditions select (writes nothing)"),
        ("apply", cmd_audience_apply, "make the customers the conditions select members of the campaign (one "
                                      "transaction; existing members are left as they are)"),
    ):
        command = audience.add_parser(name, parents=[db_parent], help=text)
        command.add_argument("--campaign", required=True, help="campaign id (from the catalog feed)")
        command.add_argument("--wave", type=int, help="target the members in this wave only (default: every wave)")
        command.add_argument("--where", action="append", default=[], metavar="'FACT OP VALUE'",
                             help="a condition in the rules' fact language, e.g. 'tenure_months < 12' or "
                                  "'value_tier in [\"gold\", \"diamond\"]'; repeat: all must hold "
                                  "(`audience facts` lists the facts)")
        command.add_argument("--json", action="store_true", help="print the result as JSON")
        command.add_argument("--lang", default="en", choices=["en", "zh_CN", "zh"], help="language of the text")
        if name == "preview":
            command.add_argument("--rules", metavar="FILE", help="sensitivity signals from " + RULES_HELP)
        else:
            command.add_argument("--priority", type=int, default=0, help="members' priority (higher first)")
            command.add_argument("--reason", help="why they were chosen, shown to the agent (at most 200 characters)")
        command.set_defaults(func=func)
    facts = audience.add_parser("facts", help="list the facts conditions may use")
    facts.add_argument("--lang", default="en", choices=["en", "zh_CN", "zh"])
    facts.set_defaults(func=cmd_audience_facts)

    openapi = sub.add_parser("openapi", help="print the OpenAPI document")
    openapi.add_argument("--output", "-o")
    openapi.set_defaults(func=cmd_openapi)

    demo = sub.add_parser("demo", help="seed a sample database and serve it on loopback")
    demo.add_argument("--data-dir", help="keep the demo database here (default: a new temp dir)")
    demo.add_argument("--customers", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8765)
    demo.add_argument("--json", action="store_true", help="print base URL, token and sample callers as JSON")
    demo.add_argument("--rules", metavar="FILE", help=RULES_HELP)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"callcue-server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
