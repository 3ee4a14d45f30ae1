"""Dataset events inside a running task (task-model-semantics §13): `outlet_events`, `yield Metadata(...)`,
`inlet_events` and `triggering_dataset_events`.

What the task produced leaves the process as plain dicts ({"uri", "extra", "alias"?}) with the try's
outcome; slipstream/services/datasets.py writes them with the success.
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slipstream.sdk.datasets import Dataset, DatasetAlias


def _event_key(key: Any) -> str:
    if isinstance(key, Dataset):
        return key.uri
    if isinstance(key, DatasetAlias):
        return key.name
    if isinstance(key, str):
        return key
    raise TypeError(f"expected a Dataset, a DatasetAlias or a str, not {type(key).__name__}")


class Metadata:
    """`yield Metadata(dataset, extra)` from a TaskFlow function: the extra of that outlet's event."""

    def __init__(self, target: Dataset | str, extra: dict[str, Any], alias: DatasetAlias | str | None = None):
        if isinstance(target, str):
            warnings.warn(
                "Accessing outlet_events using string is deprecated and will be removed in Airflow 3. Please use "
                "the Dataset or DatasetAlias object (renamed as Asset and AssetAlias in Airflow 3) directly",
                DeprecationWarning,
                stacklevel=2,
            )
        self.uri = _event_key(target)
        self.extra = extra
        self.alias_name = alias.name if isinstance(alias, DatasetAlias) else alias


@dataclass
class DatasetAliasEvent:
    source_alias_name: str
    dest_dataset_uri: str
    extra: dict[str, Any]


@dataclass
class OutletEventAccessor:
    raw_key: Any
    extra: dict[str, Any] = field(default_factory=dict)
    dataset_alias_events: list[DatasetAliasEvent] = field(default_factory=list)

    def add(self, dataset: Dataset | str, extra: dict[str, Any] | None = None) -> None:
        """Through an alias: an event for `dataset` (created if it does not exist yet)."""
        if isinstance(dataset, Dataset):
            uri = dataset.uri
        elif isinstance(dataset, str):
            uri = dataset
        else:
            return
        if isinstance(self.raw_key, DatasetAlias):
            alias = self.raw_key.name
        elif isinstance(self.raw_key, str):
            alias = self.raw_key
        else:
            return
        self.dataset_alias_events.append(DatasetAliasEvent(alias, uri, dict(extra or {})))


class OutletEventAccessors(Mapping[str, OutletEventAccessor]):
    """`outlet_events[Dataset(...)]` / `[DatasetAlias(...)]`: made on first access."""

    def __init__(self) -> None:
        self._dict: dict[str, OutletEventAccessor] = {}

    def __getitem__(self, key: Any) -> OutletEventAccessor:
        name = _event_key(key)
        if name not in self._dict:
            self._dict[name] = OutletEventAccessor(raw_key=key)
        return self._dict[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __str__(self) -> str:
        return f"OutletEventAccessors(_dict={self._dict})"


def produced_events(outlets: Sequence[Any], accessors: OutletEventAccessors) -> list[dict[str, Any]]:
    """The events a successful try writes: one per Dataset outlet, one per alias `add`."""
    events: list[dict[str, Any]] = []
    for outlet in outlets:
        if isinstance(outlet, Dataset):
            accessor = accessors._dict.get(outlet.uri)
            events.append({"uri": outlet.uri, "extra": dict(accessor.extra) if accessor else {}})
        elif isinstance(outlet, DatasetAlias):
            accessor = accessors._dict.get(outlet.name)
            for event in accessor.dataset_alias_events if accessor else ():
                events.append({"uri": event.dest_dataset_uri, "extra": event.extra, "alias": event.source_alias_name})
    try:  # they are stored as JSON: a value that is not fails the try, naming the problem
        json.dumps(events)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"The extra of a dataset event must be JSON serializable: {exc}") from None
    return events


def run_collecting_metadata(function: Callable, args: Sequence[Any], kwargs: dict[str, Any], context: Any) -> Any:
    """Call a task's callable; a generator function is run to its end, each yielded Metadata going
    to its outlet's event (anything else yielded is ignored), and its return value is the result."""
    if not inspect.isgeneratorfunction(function):
        return function(*args, **kwargs)
    accessors = context.get("outlet_events") if isinstance(context, Mapping) else None
    generator = function(*args, **kwargs)
    while True:
        try:
            item = next(generator)
        except StopIteration as stop:
            return stop.value
        if isinstance(item, Metadata) and accessors is not None:
            accessors[item.uri].extra.update(item.extra)
            if item.alias_name:
                accessors[item.alias_name].add(item.uri, extra=item.extra)


# -- reading events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetRef:
    uri: str
    extra: dict[str, Any]


@dataclass(frozen=True)
class DatasetEventView:
    """A stored dataset event, with the attributes Airflow's DatasetEvent offers tasks."""

    id: int
    dataset_id: int
    uri: str
    extra: dict[str, Any]
    source_dag_id: str | None
    source_task_id: str | None
    source_run_id: str | None
    source_map_index: int | None
    timestamp: datetime

    @property
    def dataset(self) -> DatasetRef:
        return DatasetRef(self.uri, {})

    def __repr__(self) -> str:
        return (
            f"DatasetEvent(id={self.id}, dataset_id={self.dataset_id}, extra={self.extra!r}, "
            f"source_task_id={self.source_task_id!r}, source_dag_id={self.source_dag_id!r}, "
            f"source_run_id={self.source_run_id!r}, source_map_index={self.source_map_index!r})"
        )


def _read_events(where: Callable[[Any], Any]) -> list[DatasetEventView]:
    from sqlalchemy import select

    from slipstream.sdk import metastore
    from slipstream.storage.dataset_models import DatasetEvent, DatasetModel

    columns = (
        DatasetEvent.id,
        DatasetEvent.dataset_id,
        DatasetModel.uri,
        DatasetEvent.extra,
        DatasetEvent.source_dag_id,
        DatasetEvent.source_task_id,
        DatasetEvent.source_run_id,
        DatasetEvent.source_map_index,
        DatasetEvent.timestamp,
    )
    query = where(select(*columns).join(DatasetModel, DatasetModel.id == DatasetEvent.dataset_id))
    with metastore.read_session() as session:
        rows = session.execute(query.order_by(DatasetEvent.timestamp, DatasetEvent.id)).all()
    return [DatasetEventView(*row[:3], row[3] or {}, *row[4:]) for row in rows]


class _LazyEvents(Sequence[DatasetEventView]):
    """Read on first use, then kept (Airflow's lazy select sequence)."""

    def __init__(self, load: Callable[[], list[DatasetEventView]]):
        self._load = load
        self._rows: list[DatasetEventView] | None = None

    def _all(self) -> list[DatasetEventView]:
        if self._rows is None:
            self._rows = self._load()
        return self._rows

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return repr(self._all())


class InletEventsAccessors(Mapping[Any, _LazyEvents]):
    """`inlet_events[Dataset(...)]`: every event of an inlet dataset, oldest first; a dataset that is
    not an inlet is a KeyError."""

    def __init__(self, inlets: Sequence[Any]):
        self._inlets = list(inlets)
        self._datasets = {i.uri: i for i in self._inlets if isinstance(i, Dataset)}
        self._aliases = {i.name: i for i in self._inlets if isinstance(i, DatasetAlias)}

    def __getitem__(self, key: Any) -> _LazyEvents:
        from slipstream.storage.dataset_models import DatasetAliasDataset, DatasetAliasModel, DatasetEvent

        obj = key
        if isinstance(key, int):
            obj = self._inlets[key]
            if not isinstance(obj, Dataset | DatasetAlias):
                raise IndexError(key)
        if isinstance(obj, DatasetAlias):
            name = self._aliases[obj.name].name

            def alias_events(query: Any) -> Any:
                from sqlalchemy import select

                resolved = (
                    select(DatasetAliasDataset.dataset_id)
                    .join(DatasetAliasModel, DatasetAliasModel.id == DatasetAliasDataset.alias_id)
                    .where(DatasetAliasModel.name == name)
                )
                return query.where(DatasetEvent.dataset_id.in_(resolved))

            return _LazyEvents(lambda: _read_events(alias_events))
        uri = self._datasets[_event_key(obj)].uri

        def dataset_events(query: Any) -> Any:
            from slipstream.storage.dataset_models import DatasetModel

            return query.where(DatasetModel.uri == uri)

        return _LazyEvents(lambda: _read_events(dataset_events))

    def __iter__(self) -> Iterator[Any]:
        return iter(self._inlets)

    def __len__(self) -> int:
        return len(self._inlets)


class TriggeringDatasetEvents(Mapping[str, list[DatasetEventView]]):
    """The events a dataset-triggered run consumed, by URI; read on first use."""

    def __init__(self, dag_id: str, run_id: str):
        self._key = (dag_id, run_id)
        self._by_uri: dict[str, list[DatasetEventView]] | None = None

    def _load(self) -> dict[str, list[DatasetEventView]]:
        if self._by_uri is None:
            from slipstream.storage.dataset_models import DagRunDatasetEvent, DatasetEvent
            from slipstream.storage.models import DagRun

            dag_id, run_id = self._key

            def consumed(query: Any) -> Any:
                return (
                    query.join(DagRunDatasetEvent, DagRunDatasetEvent.event_id == DatasetEvent.id)
                    .join(DagRun, DagRun.id == DagRunDatasetEvent.dag_run_id)
                    .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
                )

            by_uri: dict[str, list[DatasetEventView]] = {}
            for event in _read_events(consumed):
                by_uri.setdefault(event.uri, []).append(event)
            self._by_uri = by_uri
        return self._by_uri

    def __getitem__(self, uri: str) -> list[DatasetEventView]:
        return self._load()[uri]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return repr(self._load())


def dataset_context(task: Any, dag_run: Any) -> dict[str, Any]:
    """The context keys for datasets; nothing is read from the database until a task asks."""
    triggered = getattr(dag_run, "run_type", None) == "dataset_triggered"
    return {
        "outlet_events": OutletEventAccessors(),
        "inlet_events": InletEventsAccessors(getattr(task, "inlets", None) or []),
        "triggering_dataset_events": TriggeringDatasetEvents(dag_run.dag_id, dag_run.run_id) if triggered else {},
    }
