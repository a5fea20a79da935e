from django.urls import path

from accounts import views

urlpatterns = [
    path("auth/register", views.RegisterView.as_view(), name="auth-register"),
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("me", views.MeView.as_view(), name="me"),
    path("me/api-keys", views.ApiKeyListView.as_view(), name="me-api-keys"),
    path("me/api-keys/<int:key_id>", views.ApiKeyDetailView.as_view(), name="me-api-key"),
    path("me/ai-keys", views.ProviderKeyView.as_view(), name="me-ai-keys"),
    path("users/<str:username>", views.UserDetailView.as_view(), name="user-detail"),
]
