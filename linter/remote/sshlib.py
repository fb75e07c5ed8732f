"""paramiko, as the modules that connect to hosts import it.

paramiko imports the `invoke` task runner along with itself, for one use only: running the command of
an ssh_config `Match exec` line. invoke is most of paramiko's import time, which every fleet run and
every `mailcfg lint ssh://...` would pay, so paramiko is imported here without it, and
`load_invoke()` hands it to paramiko's config module (the module global it runs `Match exec` through)
for an ssh_config that may have such a line, before any host is looked up in it.
"""

from __future__ import annotations

import sys
import threading

_LOADING = threading.Lock()


def _import_without_invoke():
    if "invoke" in sys.modules or "paramiko" in sys.modules:
        import paramiko

        return paramiko
    sys.modules["invoke"] = None  # type: ignore[assignment]  # paramiko's `import invoke` fails: it keeps None
    try:
        import paramiko
    finally:
        del sys.modules["invoke"]
    return paramiko


def load_invoke() -> None:
    """invoke imported and given to paramiko (once); without it, paramiko's Match exec says it is missing."""
    with _LOADING:
        if paramiko.config.invoke is not None:
            return
        try:
            import invoke
        except ImportError as exc:
            paramiko.config.invoke_import_error = exc
            return
        paramiko.config.invoke = invoke


paramiko = _import_without_invoke()

__all__ = ["load_invoke", "paramiko"]
