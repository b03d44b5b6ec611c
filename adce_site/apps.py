from django.apps import AppConfig


class SiteConfig(AppConfig):
    """Site-wide commands (demo, legacy import) that span the other apps."""

    name = "adce_site"
    verbose_name = "ADCE site"

    def ready(self):
        import sys

        from django.conf import settings

        from . import checks  # noqa: F401 - registers the system checks

        if sys.argv[1:2] == ["qcluster"]:
            from .qcluster_deadline import qcluster_deadline_install

            qcluster_deadline_install(getattr(settings, "ADCE_Q_STOP_SECONDS", 25.0))
