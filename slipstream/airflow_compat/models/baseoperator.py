from slipstream.sdk.operators import BaseOperator
from slipstream.sdk.relations import chain, chain_linear, cross_downstream

__all__ = ["BaseOperator", "chain", "chain_linear", "cross_downstream"]
