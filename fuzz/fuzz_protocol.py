"""Coverage-guided fuzzing of every protocol decoder: each request and response of every API
at every version, and the request and response frame decoders (the "responses" target).

The table of targets comes from the codec's registry (``kproto.protocol.API_SPECS``), so a new
API or version is fuzzed without touching this file. The first three input bytes choose the
target: a kind (0: response frame, 1: request frame, 2: response body, 3: request body), the
API key and the version (a key or version the registry does not know is folded onto one it
does, so every input reaches a decoder and a captured frame keeps its meaning when APIs are
added). A decoder may only raise ``DecodeError``; whatever decodes must encode again, and
encoding what that decodes to must give the same bytes (the canonical form is stable).

    python fuzz/fuzz_protocol.py --seconds 600                  # atheris
    python fuzz/fuzz_protocol.py --hypothesis --examples 20000  # without atheris

Seeds: response and request frames captured from the real broker (fuzz/corpus/protocol/, see
fuzz/capture_corpus.py) and the default-valued encoding of every message at every version.
"""

from __future__ import annotations

import sys

from _harness import instrumented, run

with instrumented():
    import kproto.protocol as protocol
    from kproto.errors import DecodeError

NAME = "protocol"
RESPONSE_FRAME, REQUEST_FRAME, RESPONSE_BODY, REQUEST_BODY = range(4)
KEYS = sorted(protocol.API_SPECS)


def target(data: bytes) -> tuple[int, int, int]:
    """(kind, api key, version) chosen by the first three bytes of an input."""
    kind = data[0] % 4
    key = data[1] if data[1] in protocol.API_SPECS else KEYS[data[1] % len(KEYS)]
    spec = protocol.API_SPECS[key]
    version = spec.min_version + data[2] % (spec.max_version - spec.min_version + 1)
    return kind, key, version


def selector(kind: int, key: int, version: int) -> bytes:
    return bytes([kind, key, version])


def _stable(cls: type[protocol.Message], msg: protocol.Message, version: int) -> None:
    canonical = msg.encode(version)
    again = cls.decode(canonical, version).encode(version)
    if again != canonical:
        raise AssertionError(f"{cls.NAME} v{version}: unstable canonical encoding")


def one_input(data: bytes) -> None:
    if len(data) < 3:
        return
    kind, key, version = target(data)
    body = data[3:]
    spec = protocol.API_SPECS[key]
    try:
        if kind == RESPONSE_FRAME:
            corr, response = protocol.decode_response(body, key, version)
        elif kind == REQUEST_FRAME:
            header, request, version = protocol.decode_request(body)
        else:
            cls = spec.response if kind == RESPONSE_BODY else spec.request
            msg = cls.decode(body, version)
    except DecodeError:
        return
    if kind == RESPONSE_FRAME:
        frame = protocol.encode_response(response, version, corr, key)[4:]
        again = protocol.encode_response(
            protocol.decode_response(frame, key, version)[1], version, corr, key)[4:]
        if again != frame:
            raise AssertionError(f"{spec.name} v{version}: unstable response frame")
    elif kind == REQUEST_FRAME:
        api = protocol.API_SPECS[header.request_api_key]
        frame = protocol.encode_request(request, version, header.correlation_id,
                                        header.client_id)[4:]
        # Canonical, not identical: unknown tagged fields come back in ascending tag order.
        again = protocol.encode_request(protocol.decode_request(frame)[1], version,
                                        header.correlation_id, header.client_id)[4:]
        if again != frame:
            raise AssertionError(f"{api.name} v{version}: unstable request frame")
    else:
        _stable(cls, msg, version)


def seeds() -> list[bytes]:
    """The default-valued encoding of every message at every version, framed and bare."""
    out = []
    for key in KEYS:
        spec = protocol.API_SPECS[key]
        for version in range(spec.min_version, spec.max_version + 1):
            for kind, cls in ((RESPONSE_BODY, spec.response), (REQUEST_BODY, spec.request)):
                try:
                    out.append(selector(kind, key, version) + cls().encode(version))
                except Exception:  # a default that this version cannot carry
                    continue
            try:
                out.append(selector(RESPONSE_FRAME, key, version)
                           + protocol.encode_response(spec.response(), version, 7, key)[4:])
                out.append(selector(REQUEST_FRAME, key, version)
                           + protocol.encode_request(spec.request(), version, 7, "fuzz")[4:])
            except Exception:
                continue
    return out


if __name__ == "__main__":
    run(NAME, one_input, seeds, __doc__ or "")
    sys.exit(0)
