"""Package attributes loaded on first use (PEP 562), so a package can export its public
classes without importing their heavy dependencies (MuJoCo, nle) at ``import`` time."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, homes: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose attribute ``name`` lives in its
    submodule ``homes[name]``; a loaded attribute is cached in the package's ``namespace``.

    Example:
        >>> getattr_, _ = lazy_exports("advrl.envs", {"ProxyReward": "proxy"}, {})
        >>> getattr_("ProxyReward").__name__
        'ProxyReward'
    """

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        namespace[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__
