"""The app's screens: the chat screen, the login screen and the search results."""
