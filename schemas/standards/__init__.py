"""China's national code standards as pure functions: normalise a legacy value or say why not.

Every function here either returns the canonical value or raises :class:`InvalidValue` with a
reason a person can act on; none returns a guess.
"""

from .errors import InvalidValue

__all__ = ["InvalidValue"]
