"""The one Jinja environment for every template a spec holds (prompt templates, field templates, generator input):
sandboxed (no attribute escapes, immutable values) and bounded, so a hostile or careless template costs little.

Bounds per render: the output length and the length of any string built by `~`, `+` or `*` (and of any list built
by `+` or `*`); size arguments of calls and filters (`range`, `center`, `indent`, ...) and widths in format strings;
the size of `**` results; the template lines executed (loop iterations, however nested) and the wall-clock time. A
template past a bound, or failing in any other way, is a `DataError` naming the field: one line, exit 2, never a
traceback. (Jinja's own range limit ends in an OverflowError; `lipsum` makes text of any size and is removed.)
"""

from __future__ import annotations

import functools
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import jinja2
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from degaml.errors import DataError

MAX_OUTPUT_CHARS = 1_000_000  # a rendered prompt/field longer than this is not a prompt (max_length ≤ 131072 tokens)
MAX_RANGE = 10_000  # items of one range()
MAX_STEPS = 200_000  # template lines executed per render (bounds nested loops)
MAX_SECONDS = 2.0  # wall-clock time per render
MAX_POWER_BITS = 4096  # `a ** b` with |a| > 1 may have at most this many bits


class TemplateLimitError(SecurityError):
    """A template went past one of the render bounds."""


SIZED_FILTERS = {"center", "indent", "wordwrap", "truncate", "batch", "slice"}  # their arguments are sizes
SIZED_CALLS = {"range", "center", "ljust", "rjust", "zfill", "expandtabs"}  # functions and str methods taking sizes
_WIDE_FORMAT = re.compile(r"%[-+ #0]*\d*\.?\d{7,}|\{[^{}]*:[^{}]*\d{7,}[^{}]*\}")  # a 7+ digit width/precision


def _check_size(value: Any, what: str) -> None:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_OUTPUT_CHARS:
        raise TemplateLimitError(f"{what} of {len(value)} items is over the limit of {MAX_OUTPUT_CHARS}")


def _check_arguments(args: tuple, kwargs: dict, what: str) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_OUTPUT_CHARS:
            raise TemplateLimitError(f"{what} with argument {value} is over the size limit of {MAX_OUTPUT_CHARS}")


def _check_format(fmt: Any) -> None:
    if isinstance(fmt, str) and _WIDE_FORMAT.search(fmt):
        raise TemplateLimitError(f"format string {fmt[:40]!r} asks for a width over the limit")


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise TemplateLimitError(f"range of {len(result)} items is over the limit of {MAX_RANGE}")
    return result


def _bounded_filter(name: str, func: Callable) -> Callable:
    @functools.wraps(func)  # keeps Jinja's pass_context/pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if name in SIZED_FILTERS:
            _check_arguments(args[1:], kwargs, f"filter '{name}'")
        if name == "format":
            _check_format(next((a for a in args if isinstance(a, str)), None))
        result = func(*args, **kwargs)
        _check_size(result, f"filter '{name}' result")
        return result
    return bounded


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` through the environment's size check (Jinja has no hook for it)."""

    def visit_Concat(self, node: jinja2.nodes.Concat, frame) -> None:
        self.write("environment.bounded_concat(")
        super().visit_Concat(node, frame)
        self.write(")")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with bounded `~`, `+`, `*`, `**`, `%`, calls, sized filters and `range`."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, **options: Any) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, **options)
        self.globals["range"] = _bounded_range
        self.globals.pop("lipsum", None)
        self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}

    @staticmethod
    def bounded_concat(text: str) -> str:
        _check_size(text, "string")
        return text

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            sequence, count = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(sequence, (str, list, tuple)) and isinstance(count, int) and len(sequence) * count > MAX_OUTPUT_CHARS:
                raise TemplateLimitError(f"repetition to {len(sequence) * count} items is over the limit of {MAX_OUTPUT_CHARS}")
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if right * abs(left).bit_length() > MAX_POWER_BITS:
                raise TemplateLimitError(f"power of about {right * abs(left).bit_length()} bits is over the limit of {MAX_POWER_BITS}")
        if operator == "%":
            _check_format(left)
        result = super().call_binop(context, operator, left, right)
        _check_size(result, "result")
        return result

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        name = getattr(__obj, "__name__", "call")
        if name in SIZED_CALLS:
            _check_arguments(args, kwargs, f"'{name}'")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:  # `'{:>9999999}'.format(x)`: checked when the method is looked up
            _check_format(value.__self__)
        return wrapped


ENV = BoundedEnvironment(keep_trailing_newline=True)


class _Budget:
    """A trace function counting the lines executed in compiled template code, with a deadline."""

    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def __call__(self, frame, event: str, arg: object):
        if frame.f_code.co_filename != "<template>":
            return None  # only the template's own frames are traced (filters and the runtime run at full speed)
        frame.f_trace_lines = True
        return self._line

    def _line(self, frame, event: str, arg: object):
        if event == "line":
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise TemplateLimitError(f"more than {MAX_STEPS} template steps (a loop too long)")
            if not self.steps & 255 and time.monotonic() > self.deadline:
                raise TemplateLimitError(f"render took more than {MAX_SECONDS:g} s")
        return self._line


def compile_template(source: str, field: str) -> jinja2.Template:
    """Compile `source` in the bounded environment (cached); a syntax error is one line naming `field`."""
    try:
        return _compiled(source)
    except jinja2.TemplateSyntaxError as exc:
        raise DataError(f"{field}: Jinja template syntax error: {exc.message}") from None


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> jinja2.Template:
    return ENV.from_string(source)


def render(template: jinja2.Template, field: str, **variables: Any) -> str:
    """Render within the bounds; any failure is a `DataError` starting with `field` (e.g. "task 'x': item 3: doc_to_text")."""
    previous = sys.gettrace()
    sys.settrace(_Budget())
    try:
        text = template.render(**variables)
    except TemplateLimitError as exc:
        raise DataError(f"{field}: template over its resource bounds: {exc}") from None
    except (jinja2.TemplateError, ArithmeticError, ValueError, TypeError, LookupError, MemoryError, RecursionError) as exc:
        raise DataError(f"{field}: template error: {type(exc).__name__}: {str(exc)[:200]}") from None
    finally:
        sys.settrace(previous)
    if len(text) > MAX_OUTPUT_CHARS:
        raise DataError(f"{field}: template over its resource bounds: output of {len(text)} characters is over the "
                        f"limit of {MAX_OUTPUT_CHARS}")
    return text
