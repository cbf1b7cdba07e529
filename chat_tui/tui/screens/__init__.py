"""The app's screens: the chat screen, the login screen, the search results, and the
modals that confirm a delete and pick a reaction."""
