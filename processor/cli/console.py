"""``lead-router console``: the operators' web console, and the hashes its users file holds."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

from processor.cli.options import add_settings_flags, settings_from_args
from processor.console.web.auth import MAX_PASSWORD_CHARS, hash_password
from processor.errors import InvalidInput

EPILOG = """\
The console shows the rules in force and their history, tests a lead against them or a draft
(editors also validate, run the what-if and apply), searches what was decided and delivered, and
shows receipts, revenue and health. It keeps its own index of the audit, receipts and dead-letter
topics, filled exactly once: a SQLite file in the cache folder unless --console-database-url
names another (several consoles share one PostgreSQL database).

Nobody gets in without a user: NAME:ROLE:HASH entries, ROLE viewer (personal data masked) or
editor (sees it, and may apply rules), HASH an argon2 hash from --hash-password.

examples:
  # a users file with one editor and one viewer
  echo "ana:editor:$(lead-router console --hash-password)" > users.txt
  echo "vic:viewer:$(lead-router console --hash-password)" >> users.txt
  lead-router console --bootstrap-servers kafka:9092 --console-users-file users.txt

  # behind a TLS proxy, on a shared PostgreSQL index, sessions surviving restarts
  LEAD_ROUTER_CONSOLE_DATABASE_URL=postgresql://console:secret@db:5432/console \\
  LEAD_ROUTER_CONSOLE_SECRET_KEY="$(openssl rand -base64 32)" \\
  LEAD_ROUTER_CONSOLE_USERS='ana:editor:$argon2id$v=19$...;vic:viewer:$argon2id$v=19$...' \\
      lead-router console --console-host 0.0.0.0 --bootstrap-servers kafka:9092
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "console",
        help="serve the operators' web console",
        description="Serve the web console: routing, test a lead, distribution logs, receipts, "
        "health.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--hash-password",
        action="store_true",
        help="read a password (asked for on a terminal, else one line of standard input), "
        "print its argon2 hash for a users entry, and exit",
    )
    add_settings_flags(
        parser, ("kafka", "registry", "topics", "geo", "rules", "logging", "console")
    )
    parser.set_defaults(handler=_console)


def _console(args: argparse.Namespace) -> int:
    if args.hash_password:
        print(hash_password(_read_password()))
        return 0
    settings = settings_from_args(args)
    logging.basicConfig(
        level=settings.logging.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Imported here, not for a cycle (the console imports nothing of processor.cli) but for
    # start-up: the web stack and the index (SQLAlchemy, Starlette, uvicorn, Jinja2) add ~0.5 s
    # to every other command, a third of `lead-router --help`'s time.
    from processor.console.serve import serve

    serve(settings, on_ready=lambda url: print(f"Console: {url}", flush=True))
    return 0


def _read_password() -> str:
    """A password from the terminal without echo, twice to catch a typo; else stdin's first line."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise InvalidInput("the two passwords differ")
        return password
    line = sys.stdin.readline(MAX_PASSWORD_CHARS + 2)
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidInput("no password on standard input: give it as one line")
    return password
