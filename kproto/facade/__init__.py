"""The user-facing objects, written once: pure operations the adapters drive.

``_wait`` is the vocabulary (what an operation may wait for); each feature's facade logic
sits beside it. An adapter supplies its loop and a driver, and wraps each operation in a
thin blocking or ``async`` method.
"""

from kproto.facade._wait import (
    AsyncLoop,
    BlockingLoop,
    CallUser,
    Command,
    EngineLoop,
    Op,
    Park,
    Result,
    Signal,
    Spawn,
    Spawned,
    call,
    call_user,
    run_spawned,
    until,
    wait,
)

__all__ = [
    "AsyncLoop", "BlockingLoop", "CallUser", "Command", "EngineLoop", "Op", "Park", "Result", "Signal", "Spawn", "Spawned",
    "call", "call_user", "run_spawned", "until", "wait",
]
