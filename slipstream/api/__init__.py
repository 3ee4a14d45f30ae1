"""The HTTP plumbing both contracts share: the app factory, authentication, request parsing and limits,
and the Connexion tuning."""
