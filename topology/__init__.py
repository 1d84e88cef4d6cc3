"""The streaming service: faust-streaming app, wire schemas, CLI and the embedded dev stack."""

__all__: list[str] = []
