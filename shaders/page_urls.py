"""Web pages of the shader community (mounted at the site root)."""

from django.urls import path

from shaders import pages

urlpatterns = [
    path("shaders/", pages.gallery, name="shaders-gallery"),
    path("shaders/new/", pages.editor, name="shaders-new"),
    path("shaders/<uuid:shader_id>/", pages.shader_page, name="shaders-page"),
    path("shaders/<uuid:shader_id>/edit/", pages.editor, name="shaders-edit"),
]
