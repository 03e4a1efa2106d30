"""Stores: the measured hot paths, one Core statement per step, compiled once (db/compiled.py).

The repositories in db/repositories/ serve everything else through the ORM. A store takes the
process's AsyncEngine and raises the same domain errors as a repository (a unique key or a
foreign key refused is a ConflictError); a lost connection is raised as SQLAlchemy reports it,
for the worker to wait the outage out (activities/interceptors.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from core.errors import ConflictError
from db.repository import integrity_reason


@contextmanager
def conflicts_as_domain_errors() -> Iterator[None]:
    """A refused unique or foreign key becomes a ConflictError with the driver's reason."""
    try:
        yield
    except IntegrityError as err:
        raise ConflictError(integrity_reason(err)) from err
