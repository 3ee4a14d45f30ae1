from slipstream.sdk.configuration import SlipstreamConf as AirflowConfigParser
from slipstream.sdk.configuration import conf

__all__ = ["AirflowConfigParser", "conf"]
