"""Outside services behind small protocols, implemented on their official SDKs.

``build_clients(settings)`` (in :mod:`integrations.factory`) builds them all;
errors are the kinds in :mod:`integrations.errors`.

Every call that creates something outside follows one convention, so a retried
activity never creates it twice: it takes ``key=`` (our name for the thing, kept
at the provider: a Notion page property, Slack message metadata, ``[key]`` at the
end of a Figma comment, a Gmail draft's Message-ID, the last cell of a Sheets
row, a Calendar event's client-chosen id) and ``look_first=`` (look the key up
before creating; defaults to True, and only a caller that knows no earlier
attempt can have written passes False: see ``activities.keys.may_have_written``).
Its result says whether it ``created`` the thing or found it.
"""

from integrations.factory import ServiceClients, build_clients

__all__ = ["ServiceClients", "build_clients"]
