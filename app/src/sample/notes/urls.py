from django.urls import path

from sample.notes import views

app_name = "notes"

urlpatterns = [
    path("", views.index, name="index"),
    path("health/", views.health, name="health"),
    path("cached/", views.cached, name="cached"),
    path("upload/", views.upload, name="upload"),
    path("upload/<int:pk>/", views.upload_detail, name="upload-detail"),
    path("tasks/", views.tasks, name="tasks"),
]
