from slipstream.sdk.datasets import BaseDataset, Dataset, DatasetAlias, DatasetAll, DatasetAny

__all__ = ["BaseDataset", "Dataset", "DatasetAlias", "DatasetAll", "DatasetAny"]
