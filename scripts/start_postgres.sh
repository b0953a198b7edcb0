#!/bin/sh
# Makes sure the machine's PostgreSQL answers on 127.0.0.1:5432, starting the
# local cluster when it is down; the PostgreSQL tests need it. Fails with one
# clear line when it cannot.
set -eu
ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! command -v pg_isready >/dev/null 2>&1; then
    echo "start_postgres.sh: PostgreSQL client tools not found (Debian package postgresql-15 expected)" >&2
    exit 1
fi
ready && exit 0
version=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
if [ -z "$version" ]; then
    echo "start_postgres.sh: no PostgreSQL cluster under /etc/postgresql to start" >&2
    exit 1
fi
echo "start_postgres.sh: starting PostgreSQL $version main"
pg_ctlcluster --skip-systemctl-redirect "$version" main start
i=0
until ready; do
    i=$((i + 1))
    if [ "$i" -ge 30 ]; then
        echo "start_postgres.sh: PostgreSQL $version main did not answer on 127.0.0.1:5432 within 30 s" >&2
        exit 1
    fi
    sleep 1
done
