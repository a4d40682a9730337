"""NATS subjects shared by the services (standard library only: use cases import it)."""

SUBJECT_LOGGED_IN = "auth.user.logged_in"
SUBJECT_AUDIT_PREFIX = "audit."
SUBJECT_AUDIT_AUTH = "audit.auth"
# A service account was disabled: its tokens are refused from now on, not only once expired.
SUBJECT_SERVICE_ACCOUNT_DISABLED = "auth.service_account.disabled"
