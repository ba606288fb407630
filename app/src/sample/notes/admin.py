from django.contrib import admin

from sample.notes.models import Counter, Heartbeat, Note, Upload


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("text", "source", "created_at")
    list_filter = ("source",)
    search_fields = ("text",)


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ("file", "uploaded_at")


@admin.register(Counter)
class CounterAdmin(admin.ModelAdmin):
    list_display = ("name", "value")


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "scheduler", "release", "created_at")
    list_filter = ("hostname", "scheduler")
