from slipstream.sdk.xcom import XCOM_RETURN_KEY, LazySelectSequence, XCom

__all__ = ["XCOM_RETURN_KEY", "LazySelectSequence", "XCom"]
