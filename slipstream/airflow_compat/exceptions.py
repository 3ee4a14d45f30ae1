from slipstream.sdk import exceptions as _exceptions
from slipstream.sdk.exceptions import *  # noqa: F403

__all__ = [name for name in vars(_exceptions) if not name.startswith("_")]
