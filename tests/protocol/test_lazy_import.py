"""Importing kproto or a transport loads only the message modules its own code uses; every
other message class is imported on first access, through ``kproto.protocol`` or an
``ApiSpec``, and is the same class a direct import of its module gives."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import codegen
import kproto.protocol as protocol
from codegen.emit_messages import GENERATED_LINE
from kproto.protocol import API_SPECS, ApiSpec, Message

ROOT = Path(__file__).resolve().parent.parent.parent
MESSAGES = "kproto.protocol.messages."
MAX_EAGER = 25


def _fresh(code: str) -> dict[str, Any]:
    """Run ``code`` in a new interpreter; it prints one JSON value."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


LOADED = "sorted(m for m in sys.modules if m.startswith('" + MESSAGES + "'))"


@pytest.mark.parametrize("package", ["kproto", "kproto_threads", "kproto_asyncio", "kproto_trio"])
def test_importing_a_transport_loads_few_message_modules(package: str) -> None:
    out = _fresh(f"import json, sys, {package}; print(json.dumps({{'loaded': {LOADED}}}))")
    loaded = out["loaded"]
    assert len(loaded) <= MAX_EAGER, f"{len(loaded)} message modules loaded at import: {loaded}"


# Framing parses every request and response header: at most these load with a transport.
FRAMING_MODULES = [MESSAGES + "request_header", MESSAGES + "response_header"]


@pytest.mark.parametrize("package", ["kproto", "kproto_threads", "kproto_asyncio", "kproto_trio"])
def test_importing_a_transport_loads_no_message_module_but_the_headers_nor_crc32c(
    package: str,
) -> None:
    out = _fresh(
        f"""
        import json, sys, {package}
        print(json.dumps({{'loaded': {LOADED}, 'crc32c': 'crc32c' in sys.modules}}))
        """
    )
    assert set(out["loaded"]) <= set(FRAMING_MODULES), out["loaded"]
    assert out["crc32c"] is False


def test_the_first_v2_checksum_imports_crc32c_and_binds_it() -> None:
    out = _fresh(
        """
        import json, sys
        from kproto.records import batch_v2
        before = 'crc32c' in sys.modules
        first = batch_v2.crc32c(b"123456789")
        import crc32c
        print(json.dumps({
            'before': before,
            'first': first,
            'again': batch_v2.crc32c(b"123456789"),
            'bound': batch_v2.crc32c is crc32c.crc32c,
        }))
        """
    )
    assert out["before"] is False
    assert out["first"] == out["again"] == 0xE3069283  # the CRC-32C check value
    assert out["bound"] is True


def test_first_access_loads_only_that_module_and_caches_it_as_a_global() -> None:
    out = _fresh(
        f"""
        import json, sys
        import kproto.protocol as protocol
        before = {LOADED}
        in_globals_before = 'ElectLeadersRequest' in vars(protocol)
        cls = protocol.ElectLeadersRequest
        spec = protocol.API_SPECS[43]
        print(json.dumps({{
            'before': before,
            'after': {LOADED},
            'in_globals_before': in_globals_before,
            'in_globals_after': vars(protocol).get('ElectLeadersRequest') is cls,
            'spec_same': spec.request is cls,
            'module': cls.__module__,
        }}))
        """
    )
    assert MESSAGES + "elect_leaders_request" not in out["before"]
    assert out["in_globals_before"] is False
    added = set(out["after"]) - set(out["before"])
    assert added == {MESSAGES + "elect_leaders_request"}
    assert out["in_globals_after"] is True
    assert out["spec_same"] is True
    assert out["module"] == MESSAGES + "elect_leaders_request"


def test_api_spec_resolves_its_classes_on_first_access() -> None:
    out = _fresh(
        f"""
        import json, sys
        from kproto.protocol import API_SPECS
        before = {LOADED}
        spec = API_SPECS[44]
        req = spec.request
        after_request = {LOADED}
        resp = spec.response
        print(json.dumps({{
            'before': before,
            'after_request': after_request,
            'after': {LOADED},
            'names': [req.__name__, resp.__name__],
            'cached': spec.request is req and spec.response is resp,
        }}))
        """
    )
    assert not {MESSAGES + "incremental_alter_configs_request"} & set(out["before"])
    assert set(out["after_request"]) - set(out["before"]) == {
        MESSAGES + "incremental_alter_configs_request"
    }
    assert set(out["after"]) - set(out["after_request"]) == {
        MESSAGES + "incremental_alter_configs_response"
    }
    assert out["names"] == ["IncrementalAlterConfigsRequest", "IncrementalAlterConfigsResponse"]
    assert out["cached"] is True


def test_all_and_dir_list_every_message_class_and_each_resolves() -> None:
    classes = {m.name: m.module for m in codegen.load()}
    assert len(classes) == 186
    assert set(classes) <= set(protocol.__all__)
    assert set(protocol.__all__) <= set(dir(protocol))
    for name, module in classes.items():
        cls = getattr(protocol, name)
        assert cls is getattr(importlib.import_module(MESSAGES + module), name)
        assert issubclass(cls, Message)
        assert vars(protocol)[name] is cls
    for name in protocol.__all__:
        assert getattr(protocol, name) is not None


def test_star_import_gives_every_class() -> None:
    namespace: dict[str, object] = {}
    exec("from kproto.protocol import *", namespace)
    assert set(protocol.__all__) <= set(namespace)
    assert namespace["ProduceRequest"] is protocol.ProduceRequest


def test_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(
        AttributeError, match=re.escape("'kproto.protocol' has no attribute 'ProduceRequestt'")
    ):
        protocol.ProduceRequestt  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(ImportError, match="ProduceRequestt"):
        exec("from kproto.protocol import ProduceRequestt", {})


def test_every_api_spec_resolves_to_its_generated_classes() -> None:
    for key, spec in API_SPECS.items():
        assert spec.key == key
        api_keys = (spec.request.API_KEY, spec.response.API_KEY)
        assert api_keys == (key, key)
        assert spec.request.__name__ == spec.name + "Request"
        assert spec.response.__name__ == spec.name + "Response"
        assert spec.request is getattr(protocol, spec.request.__name__)


def test_api_spec_stays_immutable_and_compares_by_value() -> None:
    lazy = ApiSpec(
        0,
        "Produce",
        MESSAGES + "produce_request:ProduceRequest",
        MESSAGES + "produce_response:ProduceResponse",
        3,
        13,
    )
    eager = ApiSpec(0, "Produce", protocol.ProduceRequest, protocol.ProduceResponse, 3, 13)
    assert lazy == eager and hash(lazy) == hash(eager)
    assert lazy != ApiSpec(0, "Produce", protocol.ProduceRequest, protocol.ProduceResponse, 3, 12)
    assert lazy.request is protocol.ProduceRequest
    for attr in ("key", "name", "request", "response", "min_version", "max_version", "other"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(eager, attr, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(lazy, attr)
    assert lazy.request is protocol.ProduceRequest
    for clone in (copy.copy(lazy), copy.deepcopy(lazy), pickle.loads(pickle.dumps(lazy))):
        assert clone == lazy and clone.request is protocol.ProduceRequest
    match eager:
        case ApiSpec(0, "Produce", request, response, lo, hi):
            assert (request, response, lo, hi) == (
                protocol.ProduceRequest,
                protocol.ProduceResponse,
                3,
                13,
            )
        case _:
            pytest.fail("ApiSpec no longer matches positionally")
    assert "produce_request:ProduceRequest" in repr(lazy)


@pytest.mark.parametrize("ref", ["ProduceRequest", "kproto.protocol:", ":ProduceRequest", "m:a.b"])
def test_a_malformed_class_reference_is_refused(ref: str) -> None:
    with pytest.raises(ValueError, match="is not of the form 'module:Class'"):
        ApiSpec(0, "Produce", ref, protocol.ProduceResponse, 3, 13)


def test_a_reference_to_a_non_message_is_refused_on_access() -> None:
    spec = ApiSpec(0, "Produce", "kproto.protocol:API_SPECS", protocol.ProduceResponse, 3, 13)
    with pytest.raises(
        TypeError, match=re.escape("kproto.protocol:API_SPECS is not a message class")
    ):
        _ = spec.request


def test_every_generated_file_starts_with_the_generated_code_line() -> None:
    files = codegen.generate()
    assert len(files) == 186 + 5
    for rel, text in files.items():
        assert text.splitlines()[0] == "# Code generated by python -m codegen. DO NOT EDIT.", rel
        assert (ROOT / rel).read_text(encoding="utf-8").splitlines()[0] == GENERATED_LINE, rel
