"""Datasets as DAG files name them (task-model-semantics §13): URIs checked and normalized as in
Airflow 2.10. Scheduling on datasets and recording their events come with the task-model issue that
follows; here a Dataset can be built, compared and declared as an inlet or outlet."""

from __future__ import annotations

import urllib.parse
import warnings
from typing import Any

MAX_URI_LENGTH = 3000


def _normalize_uri(uri: str) -> str:
    if not isinstance(uri, str):
        raise TypeError(f"Dataset URI must be a string, not {type(uri).__name__}")
    if not uri:
        raise ValueError("Dataset URI cannot be empty")
    if uri.isspace():
        raise ValueError("Dataset URI cannot be just whitespace")
    if len(uri) > MAX_URI_LENGTH:
        raise ValueError(f"Dataset URI must be at most {MAX_URI_LENGTH} characters")
    if not uri.isascii():
        raise ValueError("Dataset URI must only consist of ASCII characters")
    parsed = urllib.parse.urlsplit(uri)
    if not parsed.scheme and not parsed.netloc:  # a plain name: kept verbatim
        return uri
    if parsed.scheme == "airflow":
        raise ValueError("Dataset scheme 'airflow' is reserved")
    if parsed.scheme.startswith("x-"):
        return uri
    netloc = parsed.netloc
    if parsed.username is not None or parsed.password is not None:
        warnings.warn(
            "A dataset URI should not contain auth info (e.g. username or password). "
            "It has been automatically dropped.",
            UserWarning,
            stacklevel=3,
        )
        netloc = netloc.rsplit("@", 1)[1]
    path = parsed.path.rstrip("/") or "/"
    query = urllib.parse.urlencode(sorted(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)))
    return urllib.parse.urlunsplit((parsed.scheme.lower(), netloc, path, query, ""))


class BaseDataset:
    """What schedules and outlets take: a Dataset, or (later) an alias or a condition over datasets."""

    def __or__(self, other: BaseDataset) -> DatasetAny:
        return DatasetAny(self, other)

    def __and__(self, other: BaseDataset) -> DatasetAll:
        return DatasetAll(self, other)


class Dataset(BaseDataset):
    def __init__(self, uri: str, extra: dict[str, Any] | None = None):
        self.uri = _normalize_uri(uri)
        self.extra = dict(extra or {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dataset) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __fspath__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"Dataset(uri={self.uri!r}, extra={self.extra or None!r})"


class DatasetAlias(BaseDataset):
    def __init__(self, name: str):
        if not name or not name.strip():
            raise ValueError("DatasetAlias name cannot be empty")
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetAlias) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("alias", self.name))

    def __repr__(self) -> str:
        return f"DatasetAlias(name={self.name!r})"


class _DatasetBooleanCondition(BaseDataset):
    def __init__(self, *objects: BaseDataset):
        if not all(isinstance(o, BaseDataset) for o in objects):
            raise TypeError("expect dataset expressions in condition")
        self.objects = objects

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"


class DatasetAny(_DatasetBooleanCondition):
    pass


class DatasetAll(_DatasetBooleanCondition):
    pass


# -- conditions as the scheduler reads them ------------------------------------------------------------


def as_condition(datasets: Any) -> BaseDataset:
    """What `schedule=` gives: a dataset expression, or a collection of datasets meaning all of them."""
    if isinstance(datasets, BaseDataset):
        return datasets
    items = list(datasets)
    if not all(isinstance(item, Dataset | DatasetAlias) for item in items):
        raise ValueError("All elements in 'schedule' should be datasets or dataset aliases")
    return DatasetAll(*items)


def condition_to_json(condition: BaseDataset) -> Any:
    """{"all": [...]}, {"any": [...]}, {"uri": ...} or {"alias": ...}: JSON the scheduler evaluates."""
    if isinstance(condition, Dataset):
        # The extra only when set: the dataset row created for it keeps it (DAGs without one keep their hash).
        return {"uri": condition.uri, "extra": condition.extra} if condition.extra else {"uri": condition.uri}
    if isinstance(condition, DatasetAlias):
        return {"alias": condition.name}
    if isinstance(condition, DatasetAny):
        return {"any": [condition_to_json(o) for o in condition.objects]}
    if isinstance(condition, DatasetAll):
        return {"all": [condition_to_json(o) for o in condition.objects]}
    raise TypeError(f"not a dataset expression: {condition!r}")


def condition_extras(condition: Any) -> dict[str, dict[str, Any]]:
    """The extras a serialized condition gives its datasets, by URI."""
    if "uri" in condition:
        return {condition["uri"]: condition["extra"]} if condition.get("extra") else {}
    found: dict[str, dict[str, Any]] = {}
    for key in ("all", "any"):
        for item in condition.get(key, ()):
            found.update(condition_extras(item))
    return found


def condition_uris(condition: Any) -> set[str]:
    """Every dataset URI a serialized condition names."""
    if "uri" in condition:
        return {condition["uri"]}
    found: set[str] = set()
    for part in condition.get("all") or condition.get("any") or ():
        found |= condition_uris(part)
    return found


def condition_aliases(condition: Any) -> set[str]:
    if "alias" in condition:
        return {condition["alias"]}
    found: set[str] = set()
    for part in condition.get("all") or condition.get("any") or ():
        found |= condition_aliases(part)
    return found


def condition_met(condition: Any, queued: set[str], aliases: dict[str, set[str]] | None = None) -> bool:
    """Whether the queued URIs satisfy a serialized condition; an alias counts once any dataset it
    resolved to is queued (an unresolved alias is never met)."""
    if "uri" in condition:
        return condition["uri"] in queued
    if "alias" in condition:
        return bool((aliases or {}).get(condition["alias"], set()) & queued)
    if "any" in condition:
        return any(condition_met(c, queued, aliases) for c in condition["any"])
    return all(condition_met(c, queued, aliases) for c in condition.get("all", ()))
