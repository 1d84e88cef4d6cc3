"""The live dashboard of ``tcnad ui``: a Starlette app (``app``) serving a page that follows
the scores and alerts topics (``feed``) through a bounded in-memory ``board``, and its
static files (``static/``: the page, its script and style, and uPlot with its licence)."""

__all__: list[str] = []
