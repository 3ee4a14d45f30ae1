from slipstream.sdk.dataset_events import Metadata

__all__ = ["Metadata"]
