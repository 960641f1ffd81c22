# The cobflow application image: the simulator, the live connectors and the dataflows.
# Kafka, QuestDB and Grafana run from their official images (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    COBFLOW_SERVICES__HOME=/var/lib/cobflow

WORKDIR /app
COPY pyproject.toml README.md symbols.yaml ./
COPY cobflow ./cobflow
COPY connectors ./connectors
COPY operators ./operators
COPY dataflows ./dataflows
COPY models ./models
COPY app ./app
# The native venue books are optional: this image has no Rust toolchain, so pip skips them
# (with a warning) and the Python connectors keep every book; the results are the same.
COPY native ./native
COPY grafana ./grafana
# The same install as `make install` (pip install -e .), without the test tools.
RUN pip install --no-cache-dir -e . \
 && useradd --create-home --uid 10001 cobflow \
 && mkdir -p /var/lib/cobflow \
 && chown cobflow /var/lib/cobflow
USER cobflow
CMD ["cobflow", "--help"]
