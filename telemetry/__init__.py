"""Telemetry: traces, metrics and logs, each off unless configured."""
