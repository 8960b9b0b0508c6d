"""Sub-commands of the ``hotcarrier`` CLI; each module has ``add_parser`` and ``run``."""

__all__: list[str] = []
