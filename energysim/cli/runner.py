"""What both command lines (``energysim`` and ``dkm``) share about running: the parser, ``--version`` and
``--debug``, and the exit codes.

Exit codes: 0 success; 2 a usage or input error (a bad flag, file, profile, model, artifact, ...: the user can fix
it); 1 a runtime failure that is not the user's fault (a bug, out of memory, a full disk); 130 interrupted
(Ctrl-C). Every failure prints one line on stderr, ``PROG: error: ...``; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import traceback
import warnings
from typing import Callable

from energysim.errors import EnergySimError

#: The distribution both command lines ship in (its version is what ``--version`` prints).
DISTRIBUTION = "deep-kmeans-energy"
#: Longest message printed for an error: a value quoted from a 50 MB file must not become a 50 MB line.
MAX_MESSAGE = 600

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(EnergySimError):
    """A command-line usage error (unknown flag, missing argument, bad value for a flag)."""


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default in ``--help``, except where there is nothing to show (flags, no default)."""

    def _format_action(self, action):
        if action.help is None and action.option_strings and _shows_default(action):
            action = copy.copy(action)  # an option without help text still shows its default
            action.help = "(default: %(default)s)"
        return super()._format_action(action)

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" in text or "default" in text.lower() or not _shows_default(action):
            return text
        return f"{text} (default: %(default)s)"


def _shows_default(action) -> bool:
    d = action.default
    return not (d is None or d is False or d is argparse.SUPPRESS or isinstance(action, argparse._HelpAction)
                or isinstance(action, (argparse._StoreTrueAction, argparse._VersionAction)))


# A value that starts with "-" but is not an option: a negative number or a list of them ("-1,4,4", "-0.5").
# argparse itself knows only "-1" and "-1.5" and reports "--clusters -1,4,4" as "expected one argument".
_NEGATIVE_VALUE = re.compile(r"^-(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][-+]?\d+)?([,:xX=].*)?$")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (raised as :class:`UsageError`, exit 2), that shows
    defaults in ``--help`` and takes values that look like negative numbers (``--clusters -1,4,4``) as values, so
    that the range check names them instead of argparse's "expected one argument"."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_VALUE

    def error(self, message):
        raise UsageError(f"{message} (see: {self.prog} --help)")


def version() -> str:
    """The installed version of the distribution (``unknown`` in a source checkout that was never installed)."""
    from importlib.metadata import PackageNotFoundError, version as _version

    try:
        return _version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked (``importlib.metadata`` costs start-up time on every command)."""

    def __init__(self, option_strings, prog: str, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show program's version number and exit"):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)
        self.prog = prog

    def __call__(self, parser, namespace, values, option_string=None):
        parser._print_message(f"{self.prog} {version()} ({DISTRIBUTION})\n", sys.stdout)
        parser.exit()


def add_global_flags(parser: argparse.ArgumentParser, prog: str) -> None:
    """``--version`` and ``--debug`` on the top-level parser."""
    parser.add_argument("--version", action=_VersionAction, prog=prog)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an error, print the traceback too")


def add_debug(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on every sub-command (and theirs) too, so that it may follow a sub-command's arguments."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for p in action.choices.values():
                p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
                add_debug(p)


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 25] + f" ... [{len(s) - limit + 25:,} more characters]"


def _user_error(exc: BaseException) -> bool:
    from pydantic import ValidationError

    if isinstance(exc, (EnergySimError, ValidationError)):
        return True
    # a path the user named that is missing, is a folder, or cannot be read: theirs to fix
    return isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def run(prog: str, build_parser: Callable[[], argparse.ArgumentParser], argv: list[str] | None,
        setup: Callable[[], None] | None = None) -> int:
    """Parse ``argv`` and run the chosen sub-command's ``func(args)``; map what goes wrong to an exit code and
    one line on stderr (see the module docstring). ``setup`` runs first (inside the same error handling)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or bool(os.environ.get(f"{prog.upper()}_DEBUG"))
    with warnings.catch_warnings():
        if not debug:
            # a warning is one line too (Python's own format adds the file, line and source line)
            warnings.showwarning = lambda message, *a, **k: print(f"{prog}: warning: {one_line(str(message))}",
                                                                  file=sys.stderr)
        return _run(prog, build_parser, argv, setup, debug)


def _close_bars() -> None:
    """End progress bars left open by a failure, so that the error line starts on a line of its own."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None:
        for bar in list(getattr(tqdm.tqdm, "_instances", ())):
            try:
                bar.close()
            except Exception:  # noqa: BLE001 -- a bar cut off half-built by Ctrl-C: the line is cleared below
                pass
    try:
        if sys.stderr.isatty():  # a bar may still sit on the current line: return and clear it
            sys.stderr.write("\r\033[K")
    except (AttributeError, ValueError, OSError):
        pass


def _run(prog, build_parser, argv, setup, debug) -> int:
    try:
        if setup is not None:
            setup()
        args = build_parser().parse_args(argv)
        debug = debug or getattr(args, "debug", False)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        _close_bars()
        _tb(debug)
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (``| head``): nothing left to say to it; keep the interpreter from complaining
        # about stdout again at exit
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 -- the one place every failure becomes an exit code
        _close_bars()
        _tb(debug)
        msg = one_line(_describe(exc))
        if _user_error(exc):
            print(f"{prog}: error: {msg}", file=sys.stderr)
            return EXIT_USAGE
        what = "out of memory" if isinstance(exc, MemoryError) else f"{type(exc).__name__}: {msg}"
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            what = msg  # a full disk, a vanished folder: the message says it
        hint = "" if debug else " (run again with --debug for the traceback)"
        print(f"{prog}: failed: {what}{hint}", file=sys.stderr)
        return EXIT_FAILURE


def _tb(debug: bool) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)
