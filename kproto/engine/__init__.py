"""The engine: connections to every broker, what is known of the cluster, one timer heap,
SASL, and the coordinator lookup; the feature cores (producer, consumer, group) run on it.

``client.ClientCore`` is the one object an adapter drives (see ARCHITECTURE.md for the driver
protocol); the other modules are its parts.
"""
