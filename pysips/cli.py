"""The `pysips` command, with OpenSIPS's options where they make sense.

pysips -f FILE            load FILE and run the SIP server in the foreground (pysips never
                          daemonizes: -F and -D are accepted for OpenSIPS compatibility)
pysips -c -f FILE         check only: exit 0 when the script loads, else 1 with every problem
                          listed as file:line:col: message, then the porting report
pysips -c --syntax-only   grammar only, no module resolution
pysips modules [--markdown]   list modules and their exports (docs/modules.md is generated so)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pysips import __version__
from pysips.core.drain import DEFAULT_GRACE_S
from pysips.script.oslog import setup_logging


def _echo_err(text: str) -> None:
    click.echo(text, err=True)


def _parse(path: str) -> object:
    from pysips.script.parse import ScriptSyntaxError, parse_file

    try:
        return parse_file(path)
    except ScriptSyntaxError as exc:
        for problem in exc.problems:
            _echo_err(problem.format())
        _echo_err(f"pysips: {len(exc.problems)} syntax error(s) in {path}")
        sys.exit(1)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "cfg_file", metavar="FILE", help="configuration (routing script) file")
@click.option("-c", "check", is_flag=True, help="check the script and exit")
@click.option("--syntax-only", is_flag=True, help="with -c: check the grammar only, not modules/functions")
@click.option("--mpath", metavar="DIR", help="module folder searched before the bundled modules")
@click.option("-E", "log_stderr", is_flag=True, help="log to stderr")
@click.option("-F", "foreground", is_flag=True, help="stay in the foreground (no daemon)")
@click.option("-D", "no_fork", is_flag=True, help="do not fork (debugging)")
@click.option("-V", "show_version", is_flag=True, help="print the version and exit")
@click.option("--log-level", type=int, help="OpenSIPS log level (-3..4); overrides the script's")
@click.option(
    "--skip-unimplemented-listeners",
    "skip_unimplemented",
    is_flag=True,
    help="run without listeners whose protocol pysips does not implement yet (with a warning)",
)
@click.option(
    "--dns-server",
    "dns_servers",
    multiple=True,
    metavar="IP[:PORT]",
    help="DNS server to ask instead of /etc/resolv.conf's (repeatable; OpenSIPS has no such setting)",
)
@click.option(
    "--shutdown-grace",
    type=click.FloatRange(min=0),
    default=DEFAULT_GRACE_S,
    show_default=True,
    metavar="SECONDS",
    help="on SIGTERM/SIGINT, serve transactions in flight this long, answering new requests 503 "
    "(0: stop at once, as OpenSIPS)",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    envvar="PYSIPS_WORKERS",
    help="worker processes, overriding the script's udp_workers/children (docs/workers.md)",
)
@click.pass_context
def main(
    ctx: click.Context,
    cfg_file: str | None,
    check: bool,
    syntax_only: bool,
    mpath: str | None,
    log_stderr: bool,
    foreground: bool,
    no_fork: bool,
    show_version: bool,
    log_level: int | None,
    skip_unimplemented: bool,
    dns_servers: tuple[str, ...],
    shutdown_grace: float,
    workers: int | None,
) -> None:
    """pysips: an OpenSIPS-compatible SIP server running opensips.cfg scripts."""
    if show_version:
        click.echo(f"version: pysips {__version__} (OpenSIPS 3.x script dialect, 2.x accepted)")
        return
    if ctx.invoked_subcommand is not None:
        return
    if cfg_file is None:
        _echo_err("pysips: no script given (use -f FILE)")
        sys.exit(2)
    setup_logging(1)
    script = _parse(cfg_file)
    if syntax_only:
        if not check:
            _echo_err("pysips: --syntax-only goes with -c")
            sys.exit(2)
        _echo_err(f"pysips: {cfg_file}: syntax ok")
        return
    from pysips.core.functions import ENGINE_FUNCTIONS
    from pysips.script import ast
    from pysips.script.compile import LoadOptions, check_script

    assert isinstance(script, ast.Script)
    options = LoadOptions(
        base_dir=Path(cfg_file).resolve().parent, mpath=mpath, core_functions=ENGINE_FUNCTIONS
    )
    report = check_script(script, options)
    for problem in report.problems:
        if check or not problem.warning:
            _echo_err(problem.format())
    if not report.ok:
        summary = report.summary()
        if summary:
            _echo_err("porting report:")
            for line in summary:
                _echo_err("  " + line)
        errors = sum(1 for p in report.problems if not p.warning)
        _echo_err(f"pysips: {errors} error(s) in {cfg_file}")
        sys.exit(1)
    if check:
        _echo_err(f"pysips: {cfg_file}: configuration ok")
        return
    from pysips.core.resolve import parse_server
    from pysips.core.server import run_script_file

    try:
        servers = tuple(parse_server(text) for text in dns_servers)
    except ValueError as exc:
        _echo_err(f"pysips: --dns-server: {exc}")
        sys.exit(2)
    sys.exit(
        run_script_file(cfg_file, mpath=mpath, skip_unimplemented=skip_unimplemented, log_level=log_level,
                        dns_servers=servers, shutdown_grace=shutdown_grace, workers=workers)
    )


@main.command("modules")
@click.option("--markdown", is_flag=True, help="print the reference as Markdown")
@click.option("--mpath", metavar="DIR", help="also list the modules of this folder")
def modules_cmd(markdown: bool, mpath: str | None) -> None:
    """List the available modules and what they export."""
    from pysips.script.moduledoc import module_listing, modules_markdown

    click.echo(modules_markdown(mpath) if markdown else module_listing(mpath), nl=False)


@main.group("db")
def db_group() -> None:
    """The OpenSIPS database tables (as `opensips-cli -x database ...`)."""


@db_group.command("create")
@click.argument("url")
@click.option("-m", "--module", "modules", multiple=True,
              help="only the tables of these modules (usrloc, auth_db, acc, sqlops, avpops, permissions,"
                   " dialplan, domain, alias_db, group, uac_registrant, dispatcher, load_balancer,"
                   " drouting)")
def db_create(url: str, modules: tuple[str, ...]) -> None:
    """Create the OpenSIPS 3.6 tables (and `version` rows) missing in the database at URL."""
    _db_command(url, modules, create=True)


@db_group.command("drop")
@click.argument("url")
@click.option("-m", "--module", "modules", multiple=True, help="only this module's tables")
def db_drop(url: str, modules: tuple[str, ...]) -> None:
    """Drop the OpenSIPS tables pysips knows from the database at URL."""
    _db_command(url, modules, create=False)


@db_group.command("migrate")
@click.argument("url")
@click.option("-m", "--module", "modules", multiple=True, help="only this module's tables")
def db_migrate(url: str, modules: tuple[str, ...]) -> None:
    """Bring tables of an older OpenSIPS (by their `version` rows) to OpenSIPS 3.6's layout; each
    migrated table's old rows are kept in <table>_v<old version>."""
    from pysips.db import admin
    from pysips.db.api import DbError
    from pysips.db.migrate import migrate
    from pysips.db.url import DbUrlError, parse_db_url

    try:
        shown = str(parse_db_url(url))
        db = admin.open_url(url)
        try:
            report = migrate(db, admin.tables_of(modules))
        finally:
            db.close()
    except (DbError, DbUrlError) as exc:
        _echo_err(f"pysips db: {exc}")
        sys.exit(1)
    for line in report.lines():
        click.echo(f"{shown}: {line}")


def _db_command(url: str, modules: tuple[str, ...], create: bool) -> None:
    from pysips.db import admin
    from pysips.db.api import DbError
    from pysips.db.url import DbUrlError, parse_db_url

    try:
        shown = str(parse_db_url(url))
        db = admin.open_url(url)
        try:
            names = admin.create(db, modules) if create else admin.drop(db, modules)
        finally:
            db.close()
    except (DbError, DbUrlError) as exc:
        _echo_err(f"pysips db: {exc}")
        sys.exit(1)
    verb = "created" if create else "dropped"
    click.echo(f"{shown}: {verb} {', '.join(names) if names else 'nothing'}")


if __name__ == "__main__":
    main()
