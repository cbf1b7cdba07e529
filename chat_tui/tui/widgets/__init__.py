"""The widgets of the chat screen: history pane, composer, room and member lists, status."""
