"""The web catalog: pages for people (browse, search, model pages, files, history, lineage, upload)."""
