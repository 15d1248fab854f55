"""kproto driven by threads: the adapter moves bytes and waits on timers; the core decides."""
