"""kproto's command line: the demo and small tools."""
