"""A gunicorn worker readies itself before its first request (tracker.wsgi): every template
compiled, and the objects of start-up out of the garbage collector's full collections."""
from __future__ import annotations

from tests.integration.test_logging import run_python


def test_the_wsgi_app_compiles_its_templates_and_freezes_start_up_objects(tmp_path):
    code = (
        "import gc\n"
        "import tracker.wsgi as w\n"
        "env = w.app.jinja_env\n"
        "pages = env.list_templates(filter_func=lambda n: n.endswith('.html'))\n"
        "compiled = {key[1] for key in env.cache.keys()}\n"
        "print(len(pages), len(compiled & set(pages)), gc.get_freeze_count() > 100_000)\n"
    )
    result = run_python(code, tmp_path, TRACKER_SECRET_KEY="k" * 40)
    assert result.returncode == 0, result.stderr
    total, compiled, frozen = result.stdout.split()
    assert int(total) > 20 and compiled == total and frozen == "True"
