# edgeloop: the two set-up commands of the README are `make demo` and `make test`.
# Both create .venv, install system packages (through apt when run as root,
# otherwise the exact apt-get line is printed), install edgeloop and build
# what is needed, then start the demo or run the whole test suite.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edgeloop-installed

# Debian 12 packages: the ARM cross toolchain and C library, QEMU for the
# Cortex-M7 board, clang's runtime for the libFuzzer target, and the shared
# libraries PySide6 needs to run Qt (offscreen or on a display).
APT_PACKAGES := build-essential python3-venv gcc-arm-none-eabi libnewlib-arm-none-eabi \
	qemu-system-arm clang libclang-rt-14-dev \
	libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0 \
	libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
	libxcb-randr0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
# Only the tests need these: a real X server for the GUI smoke test, and a
# PostgreSQL server for the distributed design study.
TEST_APT_PACKAGES := xvfb x11-utils postgresql

.PHONY: demo test system-packages venv clean help

help:
	@echo "make demo   set up, then start the live demo (virtual board + synthetic source)"
	@echo "make test   set up, then run the whole test suite"

# Ctrl-C is how a demo ends: its exit status 130 is not a failure of the target.
demo: $(STAMP)
	$(VENV)/bin/edgeloop demo || test $$? -eq 130

test: $(STAMP)
	@$(MAKE) --no-print-directory system-packages APT_PACKAGES="$(TEST_APT_PACKAGES)"
	$(PY) -m pytest

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "edgeloop needs these Debian packages. Run as root:"; \
	    echo "  sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml setup.py | system-packages
	@command -v $(PYTHON) >/dev/null || { echo "edgeloop needs Python 3.11 ($(PYTHON) not found); set PYTHON=..."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,test]'
	touch $@

venv: $(STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info firmware/build
