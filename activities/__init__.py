"""Activities: each does one transactional Postgres write or one outside call, idempotently.

Activities are methods on classes that take their dependencies (`Deps`) in
`__init__`; worker.py builds one object of each class and registers its methods.
"""
