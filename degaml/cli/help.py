"""Help-text conventions of every `degaml` command: flags without a `<bool>` placeholder, plain usage lines
(`SPEC [KEY=VALUE]...`, not `{SPEC} [[KEY=VALUE]...]...`), and an examples epilog."""

from __future__ import annotations

import re

from typing import Any

from typer.core import TyperCommand, TyperGroup


def _plain_flags(params: list[Any]) -> None:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # typer shows `<bool>` after a flag; a flag takes no value
        elif getattr(param, "param_type_name", "") == "argument" and param.nargs != 1:
            param.display_type_rich = lambda ctx: None  # `KEY=VALUE...` says it all; no `<list[str]>`


def _plain_usage(pieces: list[str]) -> list[str]:
    return [re.sub(r"^\{([^}]+)\}", r"\1", p) for p in pieces]  # required arguments: `SPEC`, not `{SPEC}`


class DegamlCommand(TyperCommand):
    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _plain_flags([option])
        return option

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _plain_flags(self.params)
        super().format_help(ctx, formatter)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _plain_usage(super().collect_usage_pieces(ctx))


class DegamlGroup(TyperGroup):
    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _plain_flags([option])
        return option

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _plain_flags(self.params)
        super().format_help(ctx, formatter)


def examples(*lines: str) -> str:
    """An epilog listing example command lines, one per line (`\\b` keeps rich from joining them)."""
    return "Examples:\n\b\n" + "\n".join(f"  {line}" for line in lines)
