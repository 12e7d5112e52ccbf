"""The runtime of `bootsvc serve`: the supervisor and one module per service
it runs, each wiring a protocol server from bootsvc.net to bootsvc.core."""
