# The sortwatch server. Build: docker build -t sortwatch-server .
# Run:   docker run -p 8000:8000 -e SORTWATCH_SECRET_KEY=... -v sortwatch-data:/data sortwatch-server
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SORTWATCH_DATABASE=/data/sortwatch.db \
    SORTWATCH_BIND=0.0.0.0:8000

RUN groupadd --system sortwatch && useradd --system --gid sortwatch --home /app sortwatch \
    && mkdir -p /data && chown sortwatch:sortwatch /data

WORKDIR /app
# Requirements first so that this layer is cached across source changes.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY gunicorn.conf.py .
COPY server/ server/
COPY models/rules/ models/rules/

USER sortwatch
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/up/db', timeout=4).status == 200 else 1)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"]
