"""The use cases, one module per area; each is imported when it is first used.

Every Lambda function imports ``app.py``, hence every blueprint and what they import. So that
a cold start pays only for the services its own work needs (the campaign's SQS handler never
loads the admin imports and exports; a member page never loads the campaign), a submodule
named in ``from chalicelib.services import campaign`` is bound to a stand-in, and the module
itself is imported the first time an attribute of it is read, set or deleted. Nothing else
changes: the module runs once, is cached in ``sys.modules``, and the stand-in forwards to it.

``from chalicelib.services.campaign import ChunkFailed`` is an ordinary import: it loads the
module at once (use it inside functions where import time matters).
"""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


class _ImportedOnFirstUse(ModuleType):
    """Stands for a services submodule: any use of an attribute goes to the module itself,
    imported then (once: ``import_module`` holds the module's import lock, so threads wait)."""

    def _module(self) -> ModuleType:
        return importlib.import_module(ModuleType.__getattribute__(self, "__name__"))

    def __getattr__(self, name: str):
        return getattr(self._module(), name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._module(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._module(), name)

    @property
    def __dict__(self) -> dict:  # vars(), and what tests patch: the module's own namespace
        return vars(self._module())

    def __dir__(self) -> list[str]:
        return dir(self._module())

    def __repr__(self) -> str:
        return f"<module {ModuleType.__getattribute__(self, '__name__')!r}, imported on first use>"


def __getattr__(name: str) -> ModuleType:
    """``services.<name>`` for a submodule not imported yet (PEP 562)."""
    if name.startswith("_") or importlib.util.find_spec(f"{__name__}.{name}") is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    stand_in = globals()[name] = _ImportedOnFirstUse(f"{__name__}.{name}")
    return stand_in
