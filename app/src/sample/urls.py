"""URLs of the sample project."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("sample.notes.urls")),
]

# Only when DEBUG is on (static() returns nothing otherwise): in production the web server serves media.
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
