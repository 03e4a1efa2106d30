"""The embedded stack: real PostgreSQL, the Temporal dev server, the sandbox and the worker,
started on 127.0.0.1 for `intake up`, the demo, the tests and the benchmarks."""
