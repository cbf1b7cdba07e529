"""The app's screens: the chat screen, the login screen, the search results, and the
modals that confirm a delete, pick a reaction and answer an invitation."""
