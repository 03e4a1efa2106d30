"""Each pipeline's workflow-facing contract: the Input/Result models of its workflows and
activities, its activity names' owners, and the ids it derives.

A contract module imports only the standard library and pydantic, so workflows, clients,
the API and tests can import it without pulling in the database or the outside services
(`tests/test_layering.py` reads the imports to keep it so).
"""
