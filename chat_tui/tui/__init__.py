"""The Textual app behind ``chat-tui connect``: app, screens, widgets and their pure models."""
