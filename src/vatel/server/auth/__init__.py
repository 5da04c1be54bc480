"""Who may call: organization API keys (REST) and session tokens (the session WebSocket)."""
