from django.apps import AppConfig


class SiteConfig(AppConfig):
    """Site-wide commands (demo, legacy import) that span the other apps."""

    name = "adce_site"
    verbose_name = "ADCE site"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
