"""Web pages for people: the store clerk's desk (`/desk`), server-rendered from the read models."""
