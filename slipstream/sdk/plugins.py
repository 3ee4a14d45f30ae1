"""`airflow.plugins_manager.AirflowPlugin`: what a plugin file subclasses. Only `timetables` has an
effect in Slipstream (slipstream/plugins.py); the other attributes are accepted and ignored."""

from __future__ import annotations

from typing import Any, ClassVar


class AirflowPluginException(Exception):
    pass


class AirflowPlugin:
    name: ClassVar[str | None] = None
    timetables: ClassVar[list[type]] = []
    operators: ClassVar[list[Any]] = []
    hooks: ClassVar[list[Any]] = []
    macros: ClassVar[list[Any]] = []
    listeners: ClassVar[list[Any]] = []
    flask_blueprints: ClassVar[list[Any]] = []
    appbuilder_views: ClassVar[list[Any]] = []
    appbuilder_menu_items: ClassVar[list[Any]] = []
    global_operator_extra_links: ClassVar[list[Any]] = []
    operator_extra_links: ClassVar[list[Any]] = []
    priority_weight_strategies: ClassVar[list[Any]] = []

    @classmethod
    def validate(cls) -> None:
        if not cls.name:
            raise AirflowPluginException("Your plugin needs a name.")

    @classmethod
    def on_load(cls, *args: Any, **kwargs: Any) -> None:
        """Called when the plugin is loaded; nothing to do by default."""
