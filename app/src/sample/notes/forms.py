from typing import ClassVar

from django import forms
from django.conf import settings
from django.core.validators import FileExtensionValidator
from django.template.defaultfilters import filesizeformat

from sample.notes.models import Note, Upload


class NoteForm(forms.ModelForm):
    class Meta:
        model = Note
        fields = ("text",)
        widgets: ClassVar[dict] = {"text": forms.TextInput(attrs={"placeholder": "Write a note", "autofocus": True})}


class UploadForm(forms.ModelForm):
    class Meta:
        model = Upload
        fields = ("file",)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        FileExtensionValidator(allowed_extensions=settings.UPLOAD_EXTENSIONS)(upload)
        limit = settings.UPLOAD_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(f"The file is larger than {filesizeformat(limit)}.")
        return upload
