FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Dependencies first, from pyproject.toml pinned by constraints.txt, without the project itself:
# this layer is rebuilt only when those two files change, not on every code change. The build
# requirements go in here too, so the project below installs without fetching anything.
WORKDIR /src
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(p['build-system']['requires'] + p['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the code, installed on top of those dependencies (templates and migrations ship inside the
# package). The processes run from /app, so only the installed copy is ever imported.
COPY README.md ./
COPY tracker ./tracker
COPY templates ./templates
COPY migrations ./migrations
RUN pip install --no-deps --no-build-isolation . && rm -rf /src
WORKDIR /app
COPY questions ./questions

# An unprivileged user. The code is root-owned, so read-only to it; it writes only to instance/
# (TRACKER_INSTANCE) and its home (matplotlib's cache, gunicorn's control socket).
RUN useradd --system --user-group --uid 10001 --create-home --home-dir /home/tracker --shell /usr/sbin/nologin tracker \
    && mkdir -p /app/instance && chown tracker:tracker /app/instance
USER tracker
# Build matplotlib's font cache once, in the image, rather than in every new container.
RUN python -c "import matplotlib.font_manager"

ENV TRACKER_ENV=production
EXPOSE 8000
# GET /healthz answers 200 only when the database answers too; any error or non-200 exits non-zero.
# (docker-compose.yml turns this off for the services of this image that run no web server.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-", "tracker.wsgi:app"]
