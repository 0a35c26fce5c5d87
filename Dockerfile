# syntax=docker/dockerfile:1
# Gavel: one image for the API (`gavel serve`) and the stream worker (`gavel worker`).
#
#   docker build -t gavel .
#   docker build -t gavel --build-arg DETOXIFY_CHECKPOINT=toxic_original-c1212f89.ckpt \
#       --build-arg DETOXIFY_CONFIG_DIR=bert-base-uncased --build-arg MODELS=profanity,minilm,detoxify .
#   (the checkpoint file and config folder lie in ./weights/; see the README)

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---------------------------------------------------------------- build: a venv with CPU torch
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU wheels only: the default index would pull gigabytes of CUDA libraries
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install .

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ARG DETOXIFY_CHECKPOINT=""
ARG DETOXIFY_CONFIG_DIR=""
ARG MODELS=profanity,minilm
RUN groupadd --system --gid 10001 gavel && useradd --system --uid 10001 --gid gavel --home /opt/gavel gavel
COPY --from=build /opt/venv /opt/venv
WORKDIR /opt/gavel
COPY --chown=gavel:gavel policies ./policies
COPY --chown=gavel:gavel weights ./weights
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    GAVEL_POLICY_DIR=/opt/gavel/policies \
    GAVEL_MODELS=${MODELS} \
    GAVEL_DETOXIFY_CHECKPOINT=${DETOXIFY_CHECKPOINT:+/opt/gavel/weights/${DETOXIFY_CHECKPOINT}} \
    GAVEL_DETOXIFY_CONFIG_DIR=${DETOXIFY_CONFIG_DIR:+/opt/gavel/weights/${DETOXIFY_CONFIG_DIR}}
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["gavel"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
