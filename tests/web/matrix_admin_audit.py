"""Who may use the admin and audit routes (web console and API): the rows of the access
matrix for these routes. Every other role gets 403, and nobody logged in 401.

Keys are (METHOD, route path exactly as FastAPI shows it in ``route.path``).
"""

ADMIN = frozenset({"admin"})
READERS_OF_THE_AUDIT_LOG = frozenset({"auditor", "admin"})

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    # the audit log: console
    ("GET", "/audit"): READERS_OF_THE_AUDIT_LOG,
    ("GET", "/audit/export"): READERS_OF_THE_AUDIT_LOG,
    # the audit log: API
    ("GET", "/api/v1/audit"): READERS_OF_THE_AUDIT_LOG,
    ("GET", "/api/v1/audit/export"): READERS_OF_THE_AUDIT_LOG,
    # admin pages: console
    ("GET", "/admin/users"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("POST", "/admin/users/{username}/disable"): ADMIN,
    ("POST", "/admin/users/{username}/enable"): ADMIN,
    ("POST", "/admin/users/{username}/password"): ADMIN,
    ("GET", "/admin/terminals"): ADMIN,
    ("POST", "/admin/terminals"): ADMIN,
    ("GET", "/admin/merchants"): ADMIN,
    ("POST", "/admin/merchants"): ADMIN,
    ("GET", "/admin/fees"): ADMIN,
    ("POST", "/admin/fees"): ADMIN,
    ("GET", "/admin/tokens"): ADMIN,
    ("POST", "/admin/tokens"): ADMIN,
    ("POST", "/admin/tokens/{token_id}/revoke"): ADMIN,
    # administration: API
    ("GET", "/api/v1/admin/users"): ADMIN,
    ("POST", "/api/v1/admin/users"): ADMIN,
    ("GET", "/api/v1/admin/terminals"): ADMIN,
    ("POST", "/api/v1/admin/terminals"): ADMIN,
    ("GET", "/api/v1/admin/merchants"): ADMIN,
    ("POST", "/api/v1/admin/merchants"): ADMIN,
    ("GET", "/api/v1/admin/fee-rules"): ADMIN,
    ("POST", "/api/v1/admin/fee-rules"): ADMIN,
    ("GET", "/api/v1/admin/tokens"): ADMIN,
    ("POST", "/api/v1/admin/tokens"): ADMIN,
    ("DELETE", "/api/v1/admin/tokens/{token_id}"): ADMIN,
}
