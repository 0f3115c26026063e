"""castvoice studio: a local web GUI over the application layer, from a film to a talking character.

`server.serve_studio` runs it; `app.create_studio` adds its page and JSON API to the HTTP service, so one
process serves both; `projects` finds the workspaces it may open and runs ingests in the background.
"""
