"""The `intake` command: client scripts that start workflows, and the embedded stack."""
