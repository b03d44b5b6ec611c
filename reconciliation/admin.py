"""Django's admin autodiscovery imports ``<app>.admin``; the admin pages live with the other interfaces."""

from reconciliation.interfaces import admin, admin_queue  # noqa: F401
