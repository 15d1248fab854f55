"""kproto driven by trio: the adapter moves bytes and waits on timers; the core decides."""
