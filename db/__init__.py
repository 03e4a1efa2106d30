"""The database layer: models, engine and sessions, the unit of work, repositories.

Nothing in db/ imports the layers above it (activities, workflows, cli, api).
"""
