"""The console's web side: sign-in, pages rendered on the server, and the little they share."""
