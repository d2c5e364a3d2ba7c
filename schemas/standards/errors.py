"""The one error type of the standards library."""


class InvalidValue(ValueError):
    """A legacy value that cannot be normalised; ``str(exc)`` is the reason."""
