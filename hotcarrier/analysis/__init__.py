"""Analysis tools on top of the fits: automatic model choice (:mod:`.choice`)."""

__all__ = []
