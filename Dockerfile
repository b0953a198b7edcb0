# Two images from one file:
#   docker build --target server -t sortwatch-server .   (also the default target)
#   docker build --target edge   -t sortwatch-edge .
# Run the server:
#   docker run -p 8000:8000 -e SORTWATCH_SECRET_KEY=... -v sortwatch-data:/data sortwatch-server
FROM python:3.11.7-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system sortwatch && useradd --system --gid sortwatch --home /app sortwatch
WORKDIR /app
# Requirements first so that this layer is cached across source changes.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt


FROM base AS edge
# The station program with the default model and rule sets. Mount the
# station config, the token file and the outbox directory:
#   docker run -v /etc/sortwatch:/etc/sortwatch:ro -v sortwatch-outbox:/var/lib/sortwatch \
#     --device /dev/video0 sortwatch-edge
RUN mkdir -p /var/lib/sortwatch && chown sortwatch:sortwatch /var/lib/sortwatch
COPY contract/ contract/
COPY edge/ edge/
COPY models/ models/
USER sortwatch
VOLUME ["/var/lib/sortwatch"]
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD python -m edge check-config /etc/sortwatch/station.toml > /dev/null || exit 1
ENTRYPOINT ["python", "-m", "edge"]
CMD ["run", "--config", "/etc/sortwatch/station.toml"]


FROM base AS server
ENV SORTWATCH_DATABASE=/data/sortwatch.db \
    SORTWATCH_BIND=0.0.0.0:8000
RUN mkdir -p /data && chown sortwatch:sortwatch /data
COPY gunicorn.conf.py .
COPY server/ server/
# The wire contract and the rule sets (quiz questions, camera corrections) are
# shared with the station program; the server needs no edge file.
COPY contract/ contract/
COPY models/rules/ models/rules/
USER sortwatch
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/up/db', timeout=4).status == 200 else 1)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"]
