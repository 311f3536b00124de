"""Flags show no value placeholder in ``--help``.

Typer 0.29's rich help prints each option's type after its name, flags
included: ``--json <bool>``. A flag takes no value, so users then typed
``--json true`` and got "Path 'true' does not exist" (the word became an extra
positional argument). :class:`FlagsGroup`, the root command group of
``edgeloop``, gives every flag of every command (sub-groups included, and each
command's ``--help``) an empty metavar, which both help renderers (rich and
plain) print as nothing, and refuses ``--flag true`` (or false, yes, no, on,
off) with a message saying that the flag takes no value.
"""

from __future__ import annotations

import itertools
from typing import Any

import typer
from typer.core import TyperGroup

_BOOL_WORDS = frozenset({"true", "false", "yes", "no", "on", "off"})


def _context(command: Any) -> typer.Context:
    """A context for ``command`` alone, with the help option names it declares (default ``--help``)."""
    names = (command.context_settings or {}).get("help_option_names")
    return typer.Context(command, help_option_names=names)


def hide_flag_metavars(command: Any) -> None:
    """Give every flag of ``command`` and of its subcommands, ``--help`` too, an empty metavar."""
    params = list(command.params)
    help_option = command.get_help_option(_context(command))
    if help_option is not None:
        params.append(help_option)
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        hide_flag_metavars(sub)


def _target(command: Any, args: list[str]) -> Any:
    """The (sub)command that ``args`` invoke: leading words that name subcommands are followed."""
    for word in args:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command = sub
    return command


def refuse_flag_values(ctx: Any, command: Any, args: list[str]) -> None:
    """Refuse ``--flag true`` and the like: flags take no value.

    Raises:
        typer.BadParameter: a flag of the invoked command followed by a true/false word.
    """
    target = _target(command, args)
    flags = {
        name
        for param in [*target.params, target.get_help_option(_context(target))]
        if getattr(param, "is_flag", False)
        for name in (*param.opts, *param.secondary_opts)
    }
    for flag, value in itertools.pairwise(args):
        if flag in flags and value.lower() in _BOOL_WORDS:
            raise typer.BadParameter(
                f"{flag} is a flag and takes no value: write '{flag}' alone to turn it on "
                f"(not '{flag} {value}'), leave it out to keep it off",
                ctx=ctx,
                param_hint=f"'{flag}'",
            )


class FlagsGroup(TyperGroup):
    """Typer's command group, with :func:`hide_flag_metavars` applied to the whole tree once built
    and :func:`refuse_flag_values` checking the command line."""

    def __init__(self, *args: Any, **attrs: Any) -> None:  # typer passes its own settings through
        super().__init__(*args, **attrs)
        hide_flag_metavars(self)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        refuse_flag_values(ctx, self, args)
        parsed: list[str] = super().parse_args(ctx, args)
        return parsed


__all__ = ["FlagsGroup", "hide_flag_metavars", "refuse_flag_values"]
