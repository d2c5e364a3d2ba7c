"""Connectors: each wraps one departmental system as a producer of canonical change events.

A row travels: ``sql/source.py`` reads it after the saved position → ``mapping.py`` turns it into
a canonical record (or a dead letter, ``deadletter.py``) → ``runner.py`` produces the envelope to
Kafka and, once the broker acknowledged the batch, saves the position (``positions.py``).
"""
