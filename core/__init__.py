"""Shared foundations every layer may import: settings, errors, the embedded-stack state file."""
