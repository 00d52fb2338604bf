# filigrane: one plain Makefile. `make test` sets up a fresh Debian 12
# machine (deps), builds, and runs every test, plain and under sanitizers.

CC      ?= cc
OPT     ?= -O2
CFLAGS  ?=
SAN     ?=
BUILD   ?= build
BIN     ?= bin

# Every library the code links; pkg-config gives the flags.
PKGS_ENGINE = vips libmagic libarchive cairo pangocairo poppler-glib libseccomp \
              libavformat libavcodec libavutil libswscale libswresample
PKGS_STORE  = sqlite3 libpq openssl
PKGS_WORKER = fcgi libjwt jansson libcurl libmagic libseccomp sqlite3 libpq openssl libarchive
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
               watermark/options.c watermark/archive_name.c \
               watermark/trace_code.c
WM_SAFE_SRC := $(filter $(wildcard watermark/*.c),$(WM_SAFE_SRC))
WM_DEC_SRC   = $(filter-out $(WM_SAFE_SRC),$(wildcard watermark/*.c))
STORE_SRC    = $(wildcard storage/*.c)
# The application layer (orders/: recording deliveries, what a job does)
# and the job queue's runners (jobs/): linked into the worker and the CLI.
APP_SRC      = $(wildcard orders/*.c) $(wildcard jobs/*.c)
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

.PHONY: FORCE all deps test test-only asan bench run run-cluster check-src clean fuzz

all: $(BIN)/filigrane $(BIN)/filigrane-fcgi $(BUILD)/filigrane-hooks $(UNIT_BIN)

# filigrane_build_info{version,commit} (fcgi/metrics.c): rewritten only when
# the commit or the version changes, so that only metrics.o is rebuilt.
VERSION ?= 1.12.0
$(BUILD)/gen/build_info.h: FORCE
	@mkdir -p $(dir $@)
	@c=$$(git rev-parse --short=12 HEAD 2>/dev/null | tr -cd '0-9a-f'); \
	 printf '#define FG_BUILD_VERSION "%s"\n#define FG_BUILD_COMMIT "%s"\n' \
	     "$(VERSION)" "$${c:-unknown}" >$@.tmp; \
	 if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/fcgi/metrics.o: $(BUILD)/gen/build_info.h
$(BUILD)/fcgi/metrics.o: ALL_CFLAGS += -I$(BUILD)/gen
FORCE:

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo '  CC   $<'
	@$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB_SAFE): $(call obj,$(COMMON_SRC) $(WM_SAFE_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(LIB_ENGINE): $(call obj,$(WM_DEC_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(LIB_WORKER): $(call obj,$(STORE_SRC) $(APP_SRC) $(FCGI_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^

$(BIN)/filigrane: $(call obj,$(CLI_SRC)) $(LIB_WORKER) $(LIB_ENGINE) $(LIB_SAFE)
	@mkdir -p $(BIN)
	@echo '  LD   $@'
	@$(CC) $(SAN) -o $@ $^ $(LIBS_CLI)

# The test copy of the CLI: the same objects but watermark/seccomp.c,
# compiled with -DFG_TEST_HOOKS, which adds FILIGRANE_TEST_HOOK (a child
# that hangs, crashes, opens a socket, execs... on request) for the tests
# of the sandbox around it. It lives in BUILD/, never in BIN/: the release
# binary has no failure injection. Its seccomp object comes first, so the
# linker never takes the archive's.
$(BUILD)/hooks/%.o: %.c
	@mkdir -p $(dir $@)
	@echo '  CC   $< (test hooks)'
	@$(CC) $(ALL_CFLAGS) -DFG_TEST_HOOKS -c $< -o $@

$(BUILD)/filigrane-hooks: $(BUILD)/hooks/watermark/seccomp.o $(call obj,$(CLI_SRC)) \
                          $(LIB_WORKER) $(LIB_ENGINE) $(LIB_SAFE)
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
       libsqlite3-dev libssl-dev postgresql libpq-dev \
       libfcgi-dev libjwt-dev libjansson-dev libcurl4-openssl-dev \
       fonts-dejavu-core nginx curl python3 sqlite3 poppler-utils qpdf \
       imagemagick libimage-exiftool-perl wrk hyperfine time zip \
       libarchive-tools clang libclang-rt-14-dev chromium python3-skimage jq \
       ffmpeg libavformat-dev libavcodec-dev libavfilter-dev libswscale-dev \
       libswresample-dev libavutil-dev sox espeak-ng libpango1.0-dev \
       libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui \
       fonts-noto-core python3-jsonschema python3-yaml
# Video and audio previews are made with libavformat/libavcodec (and
# checked in tests with ffmpeg, sox and espeak-ng); office documents are
# converted by LibreOffice without its desktop parts (the -nogui
# packages); text is laid out by Pango, with Noto for scripts DejaVu lacks.
# python3-jsonschema and python3-yaml check every e2e answer against
# openapi.yaml (tests/e2e/openapi_check.py).
# The browser tests drive Debian's Chromium with npm's playwright-core
# (pinned in tests/e2e/package-lock.json; it downloads no browser). The
# order page's one library, tus-js-client, is pinned in
# web/package-lock.json; scripts/run.sh serves its browser bundle. npm
# comes from Debian only where no npm is installed (a NodeSource nodejs
# carries its own, and Debian's npm package would conflict with it).
deps:
	@./scripts/deps.sh $(DEBS)
	@command -v npm >/dev/null 2>&1 || ./scripts/deps.sh nodejs npm
	@$(MAKE) -s --no-print-directory tests/e2e/node_modules/.package-lock.json \
	    web/node_modules/.package-lock.json

# npm ci again whenever a lock file changed (npm writes this copy of it).
tests/e2e/node_modules/.package-lock.json: tests/e2e/package-lock.json
	@(cd tests/e2e && npm ci --no-audit --no-fund --ignore-scripts >/dev/null) || \
	    { echo "deps: npm ci failed in tests/e2e" >&2; exit 1; }
	@touch $@

web/node_modules/.package-lock.json: web/package-lock.json
	@(cd web && npm ci --no-audit --no-fund --ignore-scripts >/dev/null) || \
	    { echo "deps: npm ci failed in web" >&2; exit 1; }
	@touch $@

test: deps
	@$(MAKE) --no-print-directory check-src
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory asan-build
	@./tests/run.sh bin build bin/asan build/asan

# Runs the suite on what is already built, without the sanitizer pass.
test-only: all check-src
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

# Two nodes sharing a PostgreSQL and an S3 server, all on this machine
# (README, "Several nodes"). `make run` stays the one-machine default.
run-cluster: deps all
	@./scripts/run-cluster.sh

# ---- fuzzing: libFuzzer targets for the parsers of untrusted input ----
# Each target is linked from its own few sources, compiled here by clang
# with coverage and sanitizers (gcc's objects in build/ carry no libFuzzer
# coverage). `make fuzz` runs each for FUZZ_SECONDS from its seed corpus
# (tests/fuzz/corpus/NAME, never written) into build/fuzz/corpus/NAME;
# findings go to build/fuzz/crashes/. tests/fuzz/smoke.sh runs the seeds.
FUZZ_CC      = clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = multipart jwt webhook disposition template utf8
FUZZ_DIR     = build/fuzz
FUZZ_CFLAGS  = -std=gnu11 -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer \
               -MMD -MP -I. \
               $(shell pkg-config --cflags glib-2.0 libjwt openssl 2>/dev/null) \
               -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=undefined
FUZZ_LDFLAGS = -fsanitize=fuzzer,address,undefined
FUZZ_COMMON  = common/result.c common/utf8.c common/id.c common/hex.c
fuzz_src_multipart   = fcgi/multipart.c fcgi/multipart_headers.c
fuzz_src_jwt         = fcgi/jwt.c
fuzz_src_webhook     = fcgi/webhook_sig.c
fuzz_src_disposition = fcgi/disposition.c
fuzz_src_template    = watermark/template.c
fuzz_libs_multipart  = -lcrypto
fuzz_libs_jwt        = $(shell pkg-config --libs libjwt jansson 2>/dev/null) -lcrypto
fuzz_libs_webhook    = -lcrypto
fuzz_libs_utf8       = $(shell pkg-config --libs glib-2.0 2>/dev/null)
# Longest input tried: a few limits' worth (the multipart limits are
# 8 KiB a body, the token limit 4 KiB), no more, so that runs stay fast.
fuzz_maxlen_multipart   = 12288
fuzz_maxlen_jwt         = 5000
fuzz_maxlen_webhook     = 4096
fuzz_maxlen_disposition = 1024
fuzz_maxlen_template    = 2048
fuzz_maxlen_utf8        = 1024
FUZZ_BINS = $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))

$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo '  CC   $< (fuzz)'
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

define fuzz_link
$(FUZZ_DIR)/fuzz_$(1): $(patsubst %.c,$(FUZZ_DIR)/%.o,tests/fuzz/fuzz_$(1).c $(FUZZ_COMMON) $(fuzz_src_$(1)))
	@echo '  LD   $$@'
	@$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $$@ $$^ $(fuzz_libs_$(1))
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_link,$(t))))

.PHONY: fuzz-build
fuzz-build: $(FUZZ_BINS)

# Every target runs even after one finds something; the exit status says
# whether any did.
fuzz_run = mkdir -p $(FUZZ_DIR)/corpus/$(1) $(FUZZ_DIR)/crashes \
        $(FUZZ_DIR)/tmp && \
    echo "== fuzz_$(1), $(FUZZ_SECONDS) s" && \
    TMPDIR=$(abspath $(FUZZ_DIR)/tmp) $(FUZZ_DIR)/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) \
        -max_len=$(fuzz_maxlen_$(1)) -print_final_stats=1 \
        -artifact_prefix=$(FUZZ_DIR)/crashes/$(1)- \
        $(FUZZ_DIR)/corpus/$(1) tests/fuzz/corpus/$(1) || found="$$found $(1)";
fuzz: deps fuzz-build
	@found=; $(foreach t,$(FUZZ_TARGETS),$(call fuzz_run,$(t))) \
	    rm -rf $(FUZZ_DIR)/tmp; \
	    if [ -n "$$found" ]; then \
	        echo "fuzz: findings in$$found (build/fuzz/crashes/)"; exit 1; \
	    fi

BANNED = '\<(sprintf|strcpy|strcat|strncpy|strtok|atoi|sscanf|gmtime|localtime|strerror)\('
check-src:
	@! grep -nE $(BANNED) $$(git ls-files '*.c' '*.h') || \
	    { echo "banned function used (see STYLE.md)"; exit 1; }

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
