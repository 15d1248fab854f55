"""kproto's code generator: Kafka's JSON message specs in, typed Python codecs out.

Inputs live next to this file: ``specs/`` (Kafka's message specs, copied verbatim) and
``kafka-error-codes.tsv`` (Kafka's error table); and ``kproto/config.py``, whose ``Config``
gives the ``Options`` TypedDict of ``kproto/options.py``. ``generate()`` returns every output
file as ``{relative path: text}``; the output depends on nothing but those inputs and this
package.
"""

from __future__ import annotations

from pathlib import Path

from codegen.emit_errors import emit_errors, load_error_codes
from codegen.emit_messages import emit_module
from codegen.emit_options import emit_options
from codegen.emit_package import emit_apis, emit_init, emit_messages_init
from codegen.model import Message, load_specs

HERE = Path(__file__).parent
SPECS = HERE / "specs"
ERROR_TABLE = HERE / "kafka-error-codes.tsv"


def load() -> list[Message]:
    return load_specs(SPECS)


def generate() -> dict[str, str]:
    messages = load()
    files: dict[str, str] = {}
    files["kproto/errors.py"] = emit_errors(load_error_codes(ERROR_TABLE))
    files["kproto/options.py"] = emit_options()
    files["kproto/protocol/__init__.py"] = emit_init(messages)
    files["kproto/protocol/apis.py"] = emit_apis(messages)
    files["kproto/protocol/messages/__init__.py"] = emit_messages_init()
    for m in messages:
        files[f"kproto/protocol/messages/{m.module}.py"] = emit_module(m)
    return dict(sorted(files.items()))
