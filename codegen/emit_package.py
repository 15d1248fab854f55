"""Emit the package-level modules: the API registry and ``kproto/protocol/__init__.py``.

Neither imports a message module: the registry names each API's classes by ``"module:Class"``
reference (``ApiSpec`` imports them on first access) and the package resolves a message class
name through a generated name -> module table on first access (PEP 562 ``__getattr__``), so
that importing kproto loads only the message modules its own code imports.
"""

from __future__ import annotations

import re

from codegen.emit_messages import GENERATED_LINE, import_lines
from codegen.model import Message

HEADER = GENERATED_LINE + "\n# Source: codegen/specs.\n"
MESSAGES_PACKAGE = "kproto.protocol.messages"

FRAMING_NAMES = [
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "peek_correlation_id",
    "request_header_version",
    "response_header_version",
]


def api_pairs(messages: list[Message]) -> list[tuple[int, Message, Message]]:
    by_key: dict[int, dict[str, Message]] = {}
    for m in messages:
        if m.api_key is not None:
            by_key.setdefault(m.api_key, {})[m.type] = m
    out = []
    for key in sorted(by_key):
        pair = by_key[key]
        if set(pair) != {"request", "response"}:
            raise ValueError(f"API key {key} lacks a request or a response: {sorted(pair)}")
        req, resp = pair["request"], pair["response"]
        if req.valid != resp.valid:
            raise ValueError(f"API key {key}: request and response versions differ")
        out.append((key, req, resp))
    return out


def class_ref(m: Message) -> str:
    """The ``"module:Class"`` reference ``ApiSpec`` resolves on first access."""
    return f'"{MESSAGES_PACKAGE}.{m.module}:{m.name}"'


def constant_name(api_name: str) -> str:
    """``AddPartitionsToTxn`` -> ``ADD_PARTITIONS_TO_TXN``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", api_name).upper()


def emit_apis(messages: list[Message]) -> str:
    pairs = api_pairs(messages)
    out = [HEADER]
    out.append('"""Every Kafka API kproto knows: its key, classes and supported versions.')
    out.append("")
    out.append("The classes are ``module:Class`` references, imported on first access (see")
    out.append("``ApiSpec``), so that importing the registry loads no message module.")
    out.append('"""')
    out.append("")
    out.append("from __future__ import annotations")
    out.append("")
    out.append("from typing import Final")
    out.append("")
    out.append("from kproto.protocol._base import ApiSpec")
    out.append("")
    out.append("# API keys, named as in Kafka's ApiKeys (plain ints: they index dicts on hot paths).")
    for key, req, _ in pairs:
        out.append(f"{constant_name(req.name.removesuffix('Request'))}: Final = {key}")
    out.append("")
    out.append("API_SPECS: dict[int, ApiSpec] = {")
    for key, req, resp in pairs:
        name = req.name.removesuffix("Request")
        args = [
            str(key),
            f'"{name}"',
            class_ref(req),
            class_ref(resp),
            str(req.valid.lo),
            str(req.valid.hi),
        ]
        line = f"    {key}: ApiSpec({', '.join(args)}),"
        if len(line) <= 100:
            out.append(line)
        else:
            out.append(f"    {key}: ApiSpec(")
            out += [f"        {a}," for a in args]
            out.append("    ),")
    out.append("}")
    return "\n".join(out) + "\n"


def emit_init(messages: list[Message]) -> str:
    ordered = sorted(messages, key=lambda m: m.module)
    out = [HEADER]
    out.append('"""Kafka\'s wire protocol, generated from Kafka\'s JSON message specs.')
    out.append("")
    out.append("One class per message spec (requests, responses, headers and standalone data")
    out.append("types), each with ``encode(version)`` and ``decode(data, version)``; the API")
    out.append("registry ``API_SPECS``; and the framing functions that add or remove the size")
    out.append("prefix and the request or response header. See docs/protocol.md.")
    out.append("")
    out.append("The message classes are imported on first access: ``protocol.ProduceRequest``")
    out.append("imports its generated module then and keeps the class as a global of this")
    out.append("package, so later reads are plain attribute reads.")
    out.append('"""')
    out.append("")
    out.append("from __future__ import annotations")
    out.append("")
    out.append("from importlib import import_module")
    out.append("from typing import TYPE_CHECKING, Any")
    out.append("")
    out.append("from kproto.protocol._base import ApiSpec, Message, Struct")
    out.append("from kproto.protocol.apis import API_SPECS")
    out += import_lines("kproto.protocol.framing", set(FRAMING_NAMES))
    out.append("")
    out.append("if TYPE_CHECKING:")
    for m in ordered:
        out += import_lines(f"{MESSAGES_PACKAGE}.{m.module}", {m.name}, indent="    ")
    out.append("")
    out.append(f"# Message class name -> its generated module under {MESSAGES_PACKAGE}.")
    out.append("_MODULES: dict[str, str] = {")
    out += [f'    "{m.name}": "{m.module}",' for m in sorted(messages, key=lambda m: m.name)]
    out.append("}")
    out.append("")
    names = ["API_SPECS", "ApiSpec", "Message", "Struct", *FRAMING_NAMES]
    names += sorted(m.name for m in messages)
    out.append("__all__ = [")
    out += [f'    "{n}",' for n in names]
    out.append("]")
    out.append("")
    out.append("")
    out.append("if not TYPE_CHECKING:")
    out.append("    # Hidden from type checkers, which see the imports above: a misspelt name")
    out.append("    # stays an error for them.")
    out.append("")
    out.append("    def __getattr__(name: str) -> Any:")
    out.append('        """Import a message class on first access and keep it as a global."""')
    out.append("        module = _MODULES.get(name)")
    out.append("        if module is None:")
    out.append('            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")')
    out.append(f'        cls = getattr(import_module(f"{MESSAGES_PACKAGE}.{{module}}"), name)')
    out.append("        globals()[name] = cls")
    out.append("        return cls")
    out.append("")
    out.append("")
    out.append("def __dir__() -> list[str]:")
    out.append("    return sorted({*globals(), *__all__})")
    return "\n".join(out) + "\n"


def emit_messages_init() -> str:
    return (
        HEADER + '"""One generated module per Kafka message spec (see ``python -m codegen``)."""\n'
    )
