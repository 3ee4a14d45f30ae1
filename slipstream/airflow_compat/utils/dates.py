from slipstream.sdk.dates import cron_presets, date_range, datetime_to_nano, days_ago, parse_execution_date

__all__ = ["cron_presets", "date_range", "datetime_to_nano", "days_ago", "parse_execution_date"]
