"""The web console: sign-in with server-side sessions, a small JSON/SSE surface over the same action
handlers the API uses, and hand-written static pages (static/)."""
