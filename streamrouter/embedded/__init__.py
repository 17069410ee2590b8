"""The embedded stack: a tansu broker, the simulated API and a worker, as processes."""
