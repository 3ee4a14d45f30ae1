from slipstream.sdk.plugins import AirflowPlugin, AirflowPluginException

__all__ = ["AirflowPlugin", "AirflowPluginException"]
