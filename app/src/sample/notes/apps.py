from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "sample.notes"
    label = "notes"
    verbose_name = "Notes"
