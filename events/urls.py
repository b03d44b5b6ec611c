# HTTP endpoints for events and scrapers (SPEC §9); filled in by the events issue.
urlpatterns = []
