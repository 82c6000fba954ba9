"""A tiny renderer of the Go-template subset tuneforge's Modelfile TEMPLATE uses (tests only).

Supported: literal text; actions ``{{ ... }}`` with ``{{-``/``-}}`` trim markers; ``if`` /
``else if`` / ``else`` / ``end``; ``range $i, $_ := PIPE``; ``$var := PIPE``; fields
``.X`` (of the current dot) and ``$.X`` (of the root); variables; string and integer literals;
the functions ``eq``, ``not``, ``len``, ``slice``, ``and``, ``or``; parentheses. Go's text/template
semantics for these: ``if`` tests truthiness (empty string, 0, empty list, false, nil are
false); ``range`` sets the dot to each element.
"""

from __future__ import annotations

import re
from typing import Any

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|[^\s()]+)')


def _parse_nodes(source: str) -> list[Any]:
    """Text and actions, trim markers applied: a flat list of str and ('action', text)."""
    items: list[Any] = []
    position = 0
    for match in _ACTION.finditer(source):
        text = source[position : match.start()]
        if match.group(1):
            text = text.rstrip()
        items.append(text)
        items.append(("action", match.group(2).strip(), bool(match.group(3))))
        position = match.end()
    items.append(source[position:])
    out: list[Any] = []
    trim_next = False
    for item in items:
        if isinstance(item, str):
            out.append(item.lstrip() if trim_next else item)
            trim_next = False
        else:
            out.append(item)
            trim_next = item[2]
    return out


def _tree(items: list[Any], index: int = 0) -> tuple[list[Any], int, str | None]:
    """A block of nodes until ``end``/``else``: (nodes, next index, the closing action)."""
    nodes: list[Any] = []
    while index < len(items):
        item = items[index]
        index += 1
        if isinstance(item, str):
            if item:
                nodes.append(("text", item))
            continue
        action = item[1]
        if action == "end" or action == "else" or action.startswith("else if "):
            return nodes, index, action
        if action.startswith("if "):
            branches = []
            condition: str | None = action[3:]
            while True:
                body, index, closing = _tree(items, index)
                branches.append((condition, body))
                if closing == "end":
                    break
                condition = closing[len("else if ") :] if closing.startswith("else if ") else None
            nodes.append(("if", branches))
        elif action.startswith("range "):
            body, index, closing = _tree(items, index)
            assert closing == "end", "range ... else is not supported"
            nodes.append(("range", action[6:], body))
        else:
            nodes.append(("expr", action))
    return nodes, index, None


def _tokens(expression: str) -> list[str]:
    return [t for t in _TOKEN.findall(expression) if t]


def _evaluate(tokens: list[str], dot: Any, scope: dict[str, Any]) -> Any:
    """Evaluate a command: one operand, or a function applied to operands."""
    values, position = [], 0
    while position < len(tokens):
        token = tokens[position]
        if token == "(":
            depth, end = 1, position + 1
            while depth:
                depth += {"(": 1, ")": -1}.get(tokens[end], 0)
                end += 1
            values.append(("value", _evaluate(tokens[position + 1 : end - 1], dot, scope)))
            position = end
            continue
        values.append(("token", token))
        position += 1
    head = values[0]
    if head[0] == "token" and head[1] in _FUNCTIONS:
        args = [_operand(v, dot, scope) for v in values[1:]]
        return _FUNCTIONS[head[1]](*args)
    assert len(values) == 1, f"cannot evaluate {tokens}"
    return _operand(head, dot, scope)


def _operand(item: tuple[str, Any], dot: Any, scope: dict[str, Any]) -> Any:
    kind, value = item
    if kind == "value":
        return value
    if value.startswith('"'):
        return value[1:-1].encode().decode("unicode_escape")
    if value.lstrip("-").isdigit():
        return int(value)
    if value == ".":
        return dot
    if value.startswith("$"):
        name, _, path = value.partition(".")
        target = scope[name]
        return _field(target, path) if path else target
    if value.startswith("."):
        return _field(dot, value[1:])
    raise ValueError(f"unsupported operand {value}")


def _field(target: Any, path: str) -> Any:
    for part in path.split("."):
        target = target.get(part) if isinstance(target, dict) else getattr(target, part)
    return target


def _truthy(value: Any) -> bool:
    return bool(value)


_FUNCTIONS = {
    "eq": lambda a, *b: any(a == x for x in b),
    "not": lambda a: not _truthy(a),
    "len": len,
    "slice": lambda a, *bounds: (
        a[bounds[0] : (bounds[1] if len(bounds) > 1 else None)] if bounds else a
    ),
    "and": lambda *a: all(_truthy(x) for x in a),
    "or": lambda *a: any(_truthy(x) for x in a),
}


def _run(nodes: list[Any], dot: Any, scope: dict[str, Any], out: list[str]) -> None:
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "expr":
            expression = node[1]
            if ":=" in expression:
                name, _, rest = expression.partition(":=")
                scope[name.strip()] = _evaluate(_tokens(rest), dot, scope)
            else:
                value = _evaluate(_tokens(expression), dot, scope)
                out.append("" if value is None else str(value))
        elif node[0] == "if":
            for condition, body in node[1]:
                if condition is None or _truthy(_evaluate(_tokens(condition), dot, scope)):
                    _run(body, dot, scope, out)
                    break
        elif node[0] == "range":
            header = node[1]
            names, _, source = header.partition(":=") if ":=" in header else ("", "", header)
            variables = [n.strip() for n in names.split(",") if n.strip()]
            for index, element in enumerate(_evaluate(_tokens(source), dot, scope)):
                inner = dict(scope)
                if len(variables) == 2:
                    inner[variables[0]], inner[variables[1]] = index, element
                elif variables:
                    inner[variables[0]] = element
                _run(node[2], element, inner, out)


def render(template: str, data: dict[str, Any]) -> str:
    """Render ``template`` with ``data`` as the dot (and ``$``)."""
    nodes, _, closing = _tree(_parse_nodes(template))
    assert closing is None, f"unexpected {{{{ {closing} }}}}"
    out: list[str] = []
    _run(nodes, data, {"$": data}, out)
    return "".join(out)
