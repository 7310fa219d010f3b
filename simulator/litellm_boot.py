"""litellm, imported lazily and offline: it costs seconds at import and otherwise fetches a price list."""

from __future__ import annotations

import os
import threading
import warnings
from types import ModuleType
from typing import Any

_lock = threading.Lock()
_module: ModuleType | None = None
_providers: dict[str, Any] = {}


def litellm() -> ModuleType:
    """The litellm module, imported once with its network features off."""
    global _module
    with _lock:
        if _module is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            os.environ.setdefault("LITELLM_TELEMETRY", "False")
            import litellm as module

            module.telemetry = False
            module.suppress_debug_info = True
            module.drop_params = True  # a provider that ignores `seed` should not fail the lane
            # litellm re-serialises a server's reply through its pydantic models, which print several lines to
            # stderr for a field of another shape; the lane's own error names what is wrong in one.
            warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)
            _module = module
        return _module


def register_provider(name: str, handler: Any) -> None:
    """Make `name/...` model strings go to `handler` (a litellm CustomLLM)."""
    module = litellm()
    with _lock:
        _providers[name] = handler
        module.custom_provider_map = [  # type: ignore[attr-defined]
            {"provider": provider, "custom_handler": custom} for provider, custom in _providers.items()
        ]
