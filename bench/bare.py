"""The peer of ``calfeed serve`` in bench/serve.py: a bare Flask app on calfeed's own bytes.

    gunicorn --workers 4 'bare:create_app("FOLDER")'

FOLDER holds ``answers.json`` (per path: the body's file, its Content-Type and ETag, as
calfeed answered once) and the bodies. The app serves each body as a Flask user would: a
Response with that type, the ETag set, and ``make_conditional`` for the 304. Run on the same
gunicorn setup as calfeed, the ratio between the two is what calfeed adds over the bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask, Response, abort, request
from werkzeug.http import unquote_etag
from werkzeug.wrappers import Response as BaseResponse


def create_app(folder: str) -> Flask:
    """Create the app serving the answers saved in ``folder``."""
    app = Flask(__name__)
    root = Path(folder)
    answers = {
        item["path"]: ((root / item["file"]).read_bytes(), item["content_type"], item["etag"])
        for item in json.loads((root / "answers.json").read_text(encoding="utf-8"))
    }

    @app.get("/", defaults={"path": ""})
    @app.get("/<path:path>")
    def answer(path: str) -> BaseResponse:
        found = answers.get(f"/{path}")
        if found is None:
            abort(404)
        body, content_type, etag = found
        response = Response(body, content_type=content_type)
        if etag:
            response.set_etag(*unquote_etag(etag))
        return response.make_conditional(request)

    return app
