from django.contrib import admin
from django.urls import include, path

from . import views

admin.autodiscover()  # settings use SimpleAdminConfig: admin modules load here, with the URLs

urlpatterns = [
    # Before admin.site.urls: the home with its dashboard replaces the stock index at the same URL
    # (reverse("admin:index") still points here), and "coverage/" would otherwise be read as an app label.
    path("admin/", admin.site.admin_view(views.admin_home), name="adce_home"),
    path("admin/coverage/", admin.site.admin_view(views.coverage), name="adce_coverage"),
    path("admin/", admin.site.urls),
    path("api/", include("events.urls")),
]

admin.site.site_header = "Data lake operations"  # after the "ADCE" mark of base_site.html
admin.site.site_title = "ADCE admin"
admin.site.index_title = "Today at a glance"
# The header's ADCE navigation (base_site.html) and the home's app list replace the app sidebar, which
# would take 300px from the wide changelists (gaps, tasks, stored objects).
admin.site.enable_nav_sidebar = False
