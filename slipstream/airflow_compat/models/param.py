from slipstream.sdk.params import DagParam, Param, ParamsDict, process_params

__all__ = ["DagParam", "Param", "ParamsDict", "process_params"]
