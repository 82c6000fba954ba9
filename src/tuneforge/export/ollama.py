"""``Modelfile``: what ``ollama create NAME -f DIR/Modelfile`` needs to serve ``model.gguf``.

The TEMPLATE is Ollama's Go-template form of the run's chat template, built from the turn
structure measured by `template.turn_format` (ChatML, Llama-3 and every other template whose
turns are ``header(role) + content + footer``; Gemma's, which has no system role, gets the
system prompt folded into the first user turn as in training); a template that is not is
refused with a clear error. ``SYSTEM`` is the run's system prompt (else the template's own
default system prompt), ``PARAMETER stop`` lists every end-of-turn token, ``num_ctx`` a context
that fits the model.
llama.cpp adds BOS itself (the GGUF's add-BOS flag), so the TEMPLATE never writes it.

The TEMPLATE is one line without trim markers (``{{-``), so no whitespace of the chat
template's own text can be trimmed away by accident.
"""

from __future__ import annotations

from tuneforge.data.template_roles import FOLD_SEPARATOR
from tuneforge.errors import TuneforgeError
from tuneforge.export.template import TurnFormat

MODELFILE = "Modelfile"
#: Ollama's context when the model allows it (its default, 2048, cuts long conversations).
DEFAULT_NUM_CTX = 4096


def _literal(text: str) -> str:
    """Chat-template text as Go-template literal text (``{{`` must not start an action)."""
    if "{{" in text or '"""' in text:
        raise TuneforgeError(
            "--ollama: the chat template's turn text contains '{{' or '\"\"\"', which a "
            "Modelfile TEMPLATE cannot hold"
        )
    return text


def go_template(turns: TurnFormat) -> str:
    """The chat template in Ollama's Go-template syntax (``.System`` and ``.Messages``).

    The assistant header follows the last message when it is the user's (the generation
    prompt); a last assistant message is left open (Ollama continues it).
    """
    system = _literal(turns.headers["system"])
    user = _literal(turns.headers["user"])
    assistant = _literal(turns.headers["assistant"])
    end = _literal(turns.footer)
    opening = f"{{{{ if .System }}}}{system}{{{{ .System }}}}{end}{{{{ end }}}}"
    folded = ""
    if not turns.system_role:
        opening, folded = "", _folded_system()
    return (
        opening + "{{ range $i, $_ := .Messages }}"
        "{{ $last := eq (len (slice $.Messages $i)) 1 }}"
        f'{{{{ if eq .Role "user" }}}}{user}{folded}{{{{ .Content }}}}{end}'
        f"{{{{ if $last }}}}{assistant}{{{{ end }}}}"
        f'{{{{ else if eq .Role "assistant" }}}}{assistant}{{{{ .Content }}}}'
        f"{{{{ if not $last }}}}{end}{{{{ end }}}}"
        "{{ end }}{{ end }}"
    )


def _folded_system() -> str:
    """Go-template text that puts ``.System`` and a blank line before the first user message,
    for a template without a system role (training folds it there, `template_roles`).

    Ollama keeps the system message in ``.Messages``: the first user message is at index 0,
    or at 1 after a leading system message.
    """
    return (
        f"{{{{ if and $.System (eq $i 0) }}}}{{{{ $.System }}}}{FOLD_SEPARATOR}{{{{ end }}}}"
        "{{ range $k, $first := slice $.Messages 0 1 }}"
        f'{{{{ if and (eq $first.Role "system") (eq $i 1) }}}}{{{{ $.System }}}}{FOLD_SEPARATOR}'
        "{{ end }}{{ end }}"
    )


def _quoted(text: str) -> str:
    """A Modelfile string argument."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def modelfile(
    turns: TurnFormat,
    *,
    system_prompt: str | None,
    stop: list[str],
    context_length: int,
    source: str,
) -> str:
    """The Modelfile text (``source`` names the run in a comment)."""
    system = system_prompt if system_prompt is not None else turns.default_system
    num_ctx = min(DEFAULT_NUM_CTX, context_length)
    lines = [
        f"# Written by tuneforge export from {source}",
        "# ollama create NAME -f Modelfile",
        "FROM ./model.gguf",
        f'TEMPLATE """{go_template(turns)}"""',
    ]
    if system:
        lines.append(f'SYSTEM """{_literal(system)}"""')
    lines += [f"PARAMETER stop {_quoted(token)}" for token in stop]
    lines += [
        f"PARAMETER num_ctx {num_ctx}",
        "# Greedy, as the export was evaluated and verified; raise it for varied answers.",
        "PARAMETER temperature 0",
    ]
    return "\n".join(lines) + "\n"
