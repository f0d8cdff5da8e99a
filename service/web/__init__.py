"""The web layer: feeds, pages, sign-up and health over the live catalog, and the export."""
