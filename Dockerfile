# One image for the worker, the API, the mirror and the one-shot commands (`intake ...`).
#
#   docker build -t intake:0.1.0 .
#   docker run --rm --env-file .env intake:0.1.0 db migrate
#
# Two stages: the first builds a virtual environment with intake and its `telemetry` extra
# (no compilers or build files reach the second); the second is the slim runtime, run as an
# unprivileged user. No configuration or secret is baked in: everything comes from the
# environment (README, "Configuration"). The embedded stack (`intake up`, PostgreSQL and
# Temporal binaries) is left out: this image runs against a Temporal cluster and a PostgreSQL.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/intake
WORKDIR /src
COPY pyproject.toml README.md worker.py ./
COPY activities ./activities
COPY api ./api
COPY cli ./cli
COPY client ./client
COPY contracts ./contracts
COPY core ./core
COPY db ./db
COPY integrations ./integrations
COPY migrations ./migrations
COPY sandbox ./sandbox
COPY stack ./stack
COPY telemetry ./telemetry
COPY workflows ./workflows
RUN /opt/intake/bin/pip install '.[telemetry]' \
 && /opt/intake/bin/python -m compileall -q /opt/intake/lib

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 intake \
 && useradd --system --uid 10001 --gid intake --no-create-home --home-dir /app --shell /usr/sbin/nologin intake
COPY --from=build /opt/intake /opt/intake
ENV PATH=/opt/intake/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INTAKE_ENV=production \
    INTAKE_LOG_FORMAT=json
WORKDIR /app
USER 10001:10001
EXPOSE 8000 9464
ENTRYPOINT ["intake"]
CMD ["worker"]
