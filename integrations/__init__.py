"""Outside services behind small protocols, implemented on their official SDKs.

``build_clients(settings)`` (in :mod:`integrations.factory`) builds them all;
errors are the kinds in :mod:`integrations.errors`.
"""

from integrations.factory import ServiceClients, build_clients

__all__ = ["ServiceClients", "build_clients"]
