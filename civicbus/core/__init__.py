"""The ground layer: what every component shares and nothing else.

Kafka client factories, topic creation and read-to-end (``kafka``), the one backoff helper
(``backoff``), the settings base and its error report (``settings``), the dead-letter record
format (``deadletter``), the garbage collector's setting for long-running processes
(``heap``). It imports no civicbus component.
"""
