from slipstream.sdk.xcom_arg import PlainXComArg, XComArg

__all__ = ["PlainXComArg", "XComArg"]
