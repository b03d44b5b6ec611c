"""Site-level admin pages: the home (dashboard above the app list) and the short coverage URL."""
from django.contrib import admin

from reconciliation.interfaces.views import coverage_matrix_view

from .dashboard import dashboard_build


def admin_home(request):
    """The stock admin index (app list, recent actions) with the dashboard's context added."""
    from reconciliation.orchestration.selectors import loop_health

    return admin.site.index(request, extra_context={"dashboard": dashboard_build(), "loop_health": loop_health()})


def coverage(request):
    """/admin/coverage/: the coverage matrix page of reconciliation.interfaces.admin, at a URL one can type."""
    return coverage_matrix_view(request, admin.site)
