"""kproto driven by asyncio: the adapter moves bytes and waits on timers; the core decides."""
