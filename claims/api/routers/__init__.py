"""The API's routes, one module per group of use cases (as the CLI's command modules)."""
