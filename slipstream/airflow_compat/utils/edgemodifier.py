from slipstream.sdk.edges import EdgeModifier, Label

__all__ = ["EdgeModifier", "Label"]
