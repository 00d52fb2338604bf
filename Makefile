# filigrane: one plain Makefile. `make test` sets up a fresh Debian 12
# machine (deps), builds, and runs every test, plain and under sanitizers.

CC      ?= cc
OPT     ?= -O2
CFLAGS  ?=
SAN     ?=
BUILD   ?= build
BIN     ?= bin

# Every library the code links; pkg-config gives the flags.
PKGS_ENGINE = vips libmagic libarchive cairo poppler-glib libseccomp
PKGS_STORE  = sqlite3 openssl
PKGS_WORKER = fcgi libjwt jansson libcurl libmagic libseccomp sqlite3 openssl libarchive
PKGS_ALL    = $(sort $(PKGS_ENGINE) $(PKGS_STORE) $(PKGS_WORKER))

PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS_ALL) 2>/dev/null)
ALL_CFLAGS  = -std=gnu11 -Wall -Wextra -Werror $(OPT) -g -MMD -MP -I. \
              $(PKG_CFLAGS) $(SAN) $(CFLAGS)
LIBS_CLI    = $(shell pkg-config --libs $(PKGS_ALL) 2>/dev/null) -lpthread -lm
# The worker must never decode untrusted content in its own address space:
# it is linked without libvips, poppler and cairo, so an object that would
# pull them in fails the link instead of slipping through. libarchive is
# linked for one job only: writing zips of originals (fcgi/h_archive.c).
LIBS_WORKER = $(shell pkg-config --libs $(PKGS_WORKER) 2>/dev/null) -lpthread -lm

# Sources by module. Files in a module folder are globbed so that adding a
# source file is one step; which modules each program links is explicit.
COMMON_SRC   = $(wildcard common/*.c)
# The part of watermark/ that decodes nothing: detection, templates, the
# sandbox runner. Everything else in watermark/ uses libvips and friends.
WM_SAFE_SRC  = watermark/detect.c watermark/template.c watermark/sandbox.c \
               watermark/options.c watermark/archive_name.c
WM_SAFE_SRC := $(filter $(wildcard watermark/*.c),$(WM_SAFE_SRC))
WM_DEC_SRC   = $(filter-out $(WM_SAFE_SRC),$(wildcard watermark/*.c))
STORE_SRC    = $(wildcard storage/*.c)
FCGI_SRC     = $(filter-out fcgi/main.c,$(wildcard fcgi/*.c))
CLI_SRC      = $(wildcard cli/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIB_SAFE   = $(BUILD)/libfg_safe.a
LIB_ENGINE = $(BUILD)/libfg_engine.a
LIB_WORKER = $(BUILD)/libfg_worker.a

UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BIN   = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

# Objects are kept between builds (no intermediate-file cleanup).
.SECONDARY:

.PHONY: all deps test test-only asan bench run check-src clean fuzz

all: $(BIN)/filigrane $(BIN)/filigrane-fcgi $(UNIT_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo '  CC   $<'
	@$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB_SAFE): $(call obj,$(COMMON_SRC) $(WM_SAFE_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(LIB_ENGINE): $(call obj,$(WM_DEC_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(LIB_WORKER): $(call obj,$(STORE_SRC) $(FCGI_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^

$(BIN)/filigrane: $(call obj,$(CLI_SRC)) $(LIB_WORKER) $(LIB_ENGINE) $(LIB_SAFE)
	@mkdir -p $(BIN)
	@echo '  LD   $@'
	@$(CC) $(SAN) -o $@ $^ $(LIBS_CLI)

$(BIN)/filigrane-fcgi: $(call obj,fcgi/main.c) $(LIB_WORKER) $(LIB_SAFE)
	@mkdir -p $(BIN)
	@echo '  LD   $@'
	@$(CC) $(SAN) -o $@ $^ $(LIBS_WORKER)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB_WORKER) $(LIB_ENGINE) $(LIB_SAFE)
	@mkdir -p $(dir $@)
	@echo '  LD   $@'
	@$(CC) $(SAN) -o $@ $^ $(LIBS_CLI)

# Debian packages for building, testing and benchmarking. Checked with
# dpkg -s first, so a set-up machine pays nothing.
DEBS = build-essential pkg-config libvips-dev libvips-tools libmagic-dev \
       libarchive-dev libcairo2-dev libpoppler-glib-dev libseccomp-dev \
       libsqlite3-dev libssl-dev \
       libfcgi-dev libjwt-dev libjansson-dev libcurl4-openssl-dev \
       fonts-dejavu-core nginx curl python3 sqlite3 poppler-utils qpdf \
       imagemagick libimage-exiftool-perl wrk hyperfine time zip \
       libarchive-tools
deps:
	@./scripts/deps.sh $(DEBS)

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory asan-build
	@./tests/run.sh bin build bin/asan build/asan

# Runs the suite on what is already built, without the sanitizer pass.
test-only: all
	@./tests/run.sh bin build

ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
.PHONY: asan-build
asan-build:
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=bin/asan OPT=-O1 \
	    SAN="$(ASAN_FLAGS)" all

asan: deps asan-build
	@./tests/run.sh bin/asan build/asan

bench: deps all
	@./bench/run.sh

run: deps all
	@./scripts/run.sh

BANNED = '\<(sprintf|strcpy|strcat|strncpy|strtok|atoi|sscanf|gmtime|localtime|strerror)\('
check-src:
	@! grep -nE $(BANNED) $$(git ls-files '*.c' '*.h') || \
	    { echo "banned function used (see STYLE.md)"; exit 1; }

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
