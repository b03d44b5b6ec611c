"""Django's admin autodiscovery imports ``<app>.admin``; the admin lives with the other interfaces."""

from reconciliation.interfaces import admin  # noqa: F401
