# syntax=docker/dockerfile:1
# Gavel: one image for the API (`gavel serve`, the default) and the stream worker (`gavel worker`).
#
#   docker build -t gavel .
#   docker build -t gavel --build-arg DETOXIFY_CHECKPOINT=weights/toxic_original-c1212f89.ckpt \
#       --build-arg DETOXIFY_CONFIG_DIR=weights/bert-base-uncased .
#   docker run -p 8000:8000 gavel                       # the API
#   docker run gavel worker --redis redis://redis:6379/0  # the stream worker
#
# Real Detoxify weights are baked in from local files under ./weights/ (see the README): paths are
# relative to the build context (`weights/x.ckpt`) or to weights/ (`x.ckpt`). With a checkpoint,
# `detoxify` is added to GAVEL_MODELS. A Hugging Face cache in weights/hf/ is baked in too.

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

# ---------------------------------------------------------------- weights: pick the named files
# A throwaway stage, so that only the files named by the build arguments reach the image.
FROM ${PYTHON_IMAGE} AS weights
ARG DETOXIFY_CHECKPOINT=""
ARG DETOXIFY_CONFIG_DIR=""
COPY weights /ctx/weights
RUN set -eu; mkdir -p /weights; \
    pick() { for c in "/ctx/$1" "/ctx/weights/$1"; do if [ -e "$c" ]; then echo "$c"; return 0; fi; done; \
             echo "gavel: '$1' is not in weights/ of the build context" >&2; return 1; }; \
    if [ -n "$DETOXIFY_CHECKPOINT" ]; then \
        src=$(pick "$DETOXIFY_CHECKPOINT"); cp "$src" /weights/detoxify.ckpt; \
        if [ -n "$DETOXIFY_CONFIG_DIR" ]; then src=$(pick "$DETOXIFY_CONFIG_DIR"); cp -r "$src" /weights/detoxify-config; \
        else echo "gavel: no DETOXIFY_CONFIG_DIR: Detoxify will need its base model's config in weights/hf" >&2; fi; \
        if [ -d /ctx/weights/hf ]; then cp -r /ctx/weights/hf /weights/hf; fi; \
    elif [ -n "$DETOXIFY_CONFIG_DIR" ]; then echo "gavel: DETOXIFY_CONFIG_DIR without DETOXIFY_CHECKPOINT" >&2; exit 1; \
    fi

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ARG DETOXIFY_CHECKPOINT=""
ARG DETOXIFY_CONFIG_DIR=""
ARG MODELS=profanity,minilm,hate
RUN groupadd --system --gid 10001 gavel && useradd --system --uid 10001 --gid gavel --home /opt/gavel gavel
COPY --from=build /opt/venv /opt/venv
WORKDIR /opt/gavel
COPY --chown=gavel:gavel policies ./policies
COPY --from=weights --chown=gavel:gavel /weights ./weights
# Gavel's own hate-speech model ships in the repository (a small delta over the packaged MiniLM)
COPY --chown=gavel:gavel weights/hate-minilm/delta.safetensors weights/hate-minilm/config.json ./weights/hate-minilm/
# Empty values (no weights baked in) read as unset: see Settings._empty_is_unset.
# Caches go to /tmp, the only writable path under Kubernetes' readOnlyRootFilesystem.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/opt/gavel/weights/hf \
    XDG_CACHE_HOME=/tmp/.cache \
    TOKENIZERS_PARALLELISM=false \
    GAVEL_POLICY_DIR=/opt/gavel/policies \
    GAVEL_HATE_MODEL_DIR=/opt/gavel/weights/hate-minilm \
    GAVEL_MODELS=${MODELS}${DETOXIFY_CHECKPOINT:+,detoxify} \
    GAVEL_DETOXIFY_CHECKPOINT=${DETOXIFY_CHECKPOINT:+/opt/gavel/weights/detoxify.ckpt} \
    GAVEL_DETOXIFY_CONFIG_DIR=${DETOXIFY_CONFIG_DIR:+/opt/gavel/weights/detoxify-config}
USER 10001:10001
EXPOSE 8000 9000
# /healthz of `gavel serve` (port 8000), or of `gavel worker`'s own endpoint (GAVEL_WORKER_HTTP_PORT,
# 9000): the worker's answers 503 when its loop's heartbeat is stale
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; a = open('/proc/1/cmdline', 'rb').read().split(b'\\0'); port = os.environ.get('GAVEL_WORKER_HTTP_PORT', '9000') if b'worker' in a else '8000'; sys.exit(0 if u.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["gavel"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
