"""A package's names loaded on first use (PEP 562): one mechanism for `claims.domain` and `claims.services`.

Importing one module of a package then does not run every module the package names (issue 11:
`claims --help` and the reading commands load only what they use).
"""

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_names(
    package: str, where: dict[str, tuple[str, ...]], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose names live in the modules `where` maps them from."""
    module_of = {name: module for module, names in where.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace.get("__all__", ())})

    return __getattr__, __dir__
