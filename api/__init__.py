"""The HTTP front door: webhooks, the admin API and the web pages, one FastAPI app (api.app.create_app)."""
