from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("events.urls")),
]

admin.site.site_header = "ADCE — data lake operations"
admin.site.site_title = "ADCE admin"
admin.site.index_title = "Metrics, reconciliation, approvals and events"
