# Splinter build.  `make`, `make test`, `make bench`, `make install`.
# Switches: WITH_EMBEDDINGS=0|1 (default 1), WITH_VALGRIND=1, WITH_LUA=1 (the
# CLI's `lua` command and the loadable Lua module), WITH_NUMA=1 (NUMA
# placement of stores with libnuma: src/numa.c, -lnuma; without it the
# library has no libnuma and a NUMA policy is SPL_ENOTSUP), WITH_LLAMA=1
# (the embed fragment's `llama` embedder and splinterctl's: fetches and
# builds llama.cpp CPU-only into build/llama with scripts/llama-build.sh,
# once; `make test-llama`), WITH_NATS=1
# (mirror/: build/splinter-mirror and build/libsplinter-mirror.a, which
# mirror a store to and from a NATS JetStream bucket; needs libnats-dev).
# `make test` builds and tests the mirror whatever WITH_NATS says (the
# switch decides only what `make` and `make install` build), so CI's
# `make deps test` covers it: deps installs libnats-dev and nats-server.
#
# Variants build into their own folder: build/ (default), build/asan,
# build/tsan, build/broken (the kill-loop check's deliberately broken read
# path), build/fuzz (clang + libFuzzer).

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
FRAGDIR ?= $(LIBDIR)/splinter/fragments
DESTDIR ?=

WITH_EMBEDDINGS ?= 1
WITH_VALGRIND   ?= 0
WITH_NUMA       ?= 0
WITH_LUA        ?= 0
WITH_LLAMA      ?= 0
WITH_NATS       ?= 0

.DEFAULT_GOAL := all

CC      ?= cc
export SPL_SUMMARY
B       ?= build
OPT     ?= -O2
SAN     ?=
XDEFS   ?=

VERSION := 0.1.0
SONAME  := libsplinter.so.0

CFLAGS_BASE := -std=c11 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wno-missing-field-initializers -D_GNU_SOURCE -Iinclude -Isrc \
	-DSPL_WITH_EMBEDDINGS=$(WITH_EMBEDDINGS) -DSPL_WITH_NUMA=$(WITH_NUMA) $(XDEFS) $(SAN)
CFLAGS_LIB  := $(CFLAGS_BASE) -fPIC -fvisibility=hidden -DSPL_FRAG_DIR='"$(FRAGDIR)"'
LDLIBS      := -lpthread -lm -ldl
ifeq ($(WITH_NUMA),1)
LDLIBS      += -lnuma
endif
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

LIB_SRC  := $(sort $(wildcard src/*.c))
LIB_OBJ  := $(patsubst src/%.c,$(B)/obj/%.o,$(LIB_SRC))
LIB_A    := $(B)/libsplinter.a
LIB_SO   := $(B)/libsplinter.so

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
MP_SRC   := $(sort $(wildcard tests/mp/*.c))
MP_BIN   := $(patsubst tests/mp/%.c,$(B)/tests/%,$(MP_SRC))
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(B)/bench/splinter-bench
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(B)/tests/replay_%,$(FUZZ_SRC))
TEST_HELPERS := $(sort $(wildcard tests/common/*.c))

# splinterctl (cli/): libedit for the REPL, jansson for JSON; with
# WITH_LUA=1 also the Lua binding (lua/), which is built a second time as
# the loadable module splinter.so for the stock lua5.4 interpreter.
# WITH_LLAMA=1: llama.cpp, fetched and built once into build/llama (shared
# by every variant folder) by scripts/llama-build.sh behind a stamp file;
# linked statically into the embedder's users (splinterctl, embed.so).
LLAMA_B      := build/llama
LLAMA_STAMP  := $(if $(filter 1,$(WITH_LLAMA)),$(LLAMA_B)/.built)
LLAMA_CFLAGS := $(if $(filter 1,$(WITH_LLAMA)),-DSPL_WITH_LLAMA=1 -I$(LLAMA_B)/src/include -I$(LLAMA_B)/src/ggml/include)
LLAMA_LIBS   := $(if $(filter 1,$(WITH_LLAMA)),-L$(LLAMA_B)/lib -lllama -lggml -lggml-cpu -lggml-base -lstdc++ -lgomp -lm)

$(LLAMA_B)/.built: scripts/llama-build.sh
	scripts/llama-build.sh build

# The stamp rebuilds the embedder's users when WITH_LLAMA changes.
$(B)/.llama-%:
	@mkdir -p $(dir $@) && rm -f $(B)/.llama-* && touch $@

EMB_CLIENT := fragments/embed/embedder.c fragments/embed/client_query.c
CLI_SRC  := $(filter-out cli/cmd_lua.c,$(sort $(wildcard cli/*.c))) $(EMB_CLIENT)
CLI_BIN  := $(B)/splinterctl
CLI_CFLAGS := $(shell pkg-config --cflags jansson libedit 2>/dev/null) -Icli -Ifragments/embed -DSPLCTL_WITH_LUA=$(WITH_LUA)
CLI_LIBS := $(shell pkg-config --libs jansson libedit 2>/dev/null || echo -ljansson -ledit)
# (the mirror's variables: see the mirror section below)
NATS_CFLAGS  := $(shell pkg-config --cflags libnats 2>/dev/null)
NATS_LIBS    := $(shell pkg-config --libs libnats 2>/dev/null || echo -lnats)
MIRROR_LSRC  := mirror/mirror.c mirror/entry.c mirror/cli.c
MIRROR_OBJ   := $(patsubst mirror/%.c,$(B)/obj/mirror/%.o,$(MIRROR_LSRC))
MIRROR_A     := $(B)/libsplinter-mirror.a
MIRROR_BIN   := $(B)/splinter-mirror
MIRROR_TESTS := $(B)/tests/mirror_tool $(B)/tests/test_mirror_entry
MIRROR_FRAG  := $(B)/fragments/mirror.so
# WITH_NATS=1: `splinterctl mirror` runs the mirror in the CLI (libnats
# linked); otherwise it runs the splinter-mirror found beside splinterctl.
CLI_CFLAGS += -DSPLCTL_WITH_NATS=$(WITH_NATS)
ifeq ($(WITH_NATS),1)
CLI_CFLAGS += $(NATS_CFLAGS) -Imirror
CLI_MIRROR := $(MIRROR_A)
CLI_LIBS   += $(NATS_LIBS)
endif
LUA_SRC  := $(sort $(wildcard lua/*.c))
LUA_MOD  := $(B)/lua/splinter.so
LUA_CMOD ?= $(shell pkg-config --variable=INSTALL_CMOD lua5.4 2>/dev/null || echo /usr/local/lib/lua/5.4)
ifeq ($(WITH_LUA),1)
LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4) -Ilua
LUA_LIBS   := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
CLI_SRC    += cli/cmd_lua.c $(LUA_SRC)
CLI_CFLAGS += $(LUA_CFLAGS)
CLI_LIBS   += $(LUA_LIBS)
endif

.PHONY: all lib cli mirror test-mirror tests bench install uninstall clean distclean test test-unit test-mp test-cli test-lua \
	test-fuzz-replay test-asan test-tsan test-broken test-kvonly test-neon test-bench test-all fuzz fuzz-corpus deps demo \
	test-model test-model-broken-recheck test-model-broken-dekker fragments test-frag bench-dsp

all: lib $(B)/splinter.pc cli fragments $(if $(filter 1,$(WITH_NATS)),mirror)

cli: $(CLI_BIN) $(if $(filter 1,$(WITH_LUA)),$(LUA_MOD))

# The stamp relinks the CLI when WITH_LUA changes.
$(B)/.cli-lua-%:
	@mkdir -p $(dir $@) && rm -f $(B)/.cli-lua-* && touch $@

# ... and when WITH_NATS changes.
$(B)/.cli-nats-%:
	@mkdir -p $(dir $@) && rm -f $(B)/.cli-nats-* && touch $@

$(CLI_BIN): $(CLI_SRC) $(wildcard cli/*.h lua/*.h fragments/embed/*.h) $(LIB_A) $(CLI_MIRROR) \
		$(B)/.cli-lua-$(WITH_LUA) $(B)/.cli-nats-$(WITH_NATS) $(B)/.llama-$(WITH_LLAMA) $(LLAMA_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CLI_CFLAGS) $(LLAMA_CFLAGS) -o $@ $(CLI_SRC) $(CLI_MIRROR) $(CLI_HNSW) $(LIB_A) \
		$(CLI_LIBS) $(LLAMA_LIBS) $(LDLIBS)

# The loadable module: the same binding, linked with the PIC static library
# (no dependency on an installed libsplinter.so); Lua's symbols come from
# the interpreter that loads it.
# (the module embeds search_text's queries itself: the embedder, and
# llama.cpp with WITH_LLAMA=1)
$(LUA_MOD): $(LUA_SRC) $(wildcard lua/*.h fragments/embed/*.h) $(EMB_CLIENT) $(LIB_A) $(B)/.llama-$(WITH_LLAMA) \
		$(LLAMA_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(LUA_CFLAGS) -Ifragments/embed $(LLAMA_CFLAGS) -fPIC -shared -o $@ $(LUA_SRC) \
		$(EMB_CLIENT) $(LIB_A) $(LLAMA_LIBS) $(LDLIBS)

lib: $(LIB_A) $(LIB_SO)

# The stamp rebuilds the library when WITH_EMBEDDINGS changes, so that a
# variant folder (build/asan, build/broken, ...) used by both settings never
# mixes objects of the two.  (Named in an explicit rule, so that make does
# not take it for an intermediate file and delete it.)
$(B)/.emb-%:
	@mkdir -p $(dir $@) && rm -f $(B)/.emb-* && touch $@

$(LIB_OBJ): $(B)/.emb-$(WITH_EMBEDDINGS)

$(B)/obj/%.o: src/%.c $(wildcard src/*.h) $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -c $< -o $@

# The stamp rebuilds numa.o (libnuma or stubs), and so everything linked
# with the library, when WITH_NUMA changes.
$(B)/.numa-%:
	@mkdir -p $(dir $@) && rm -f $(B)/.numa-* && touch $@
$(B)/obj/numa.o $(B)/splinter.pc: $(B)/.numa-$(WITH_NUMA)

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_OBJ) src/splinter.map
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/splinter.map \
		$(SAN) -o $@ $(LIB_OBJ) $(LDLIBS)

$(B)/splinter.pc: splinter.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCDIR@|$(INCDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS_PRIVATE@|$(LDLIBS)|' $< > $@

# Tests link the static library so that every variant tests its own build.
$(B)/tests/test_%: tests/unit/test_%.c $(LIB_A) $(TEST_HELPERS) $(wildcard tests/common/*.h) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Itests/common -o $@ $< $(TEST_HELPERS) $(LIB_A) $(CMOCKA_LIBS) $(LDLIBS)

$(B)/tests/%: tests/mp/%.c $(LIB_A) $(TEST_HELPERS) $(wildcard tests/common/*.h tests/mp/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Itests/common -o $@ $< $(TEST_HELPERS) $(LIB_A) $(LDLIBS)

$(B)/tests/replay_%: tests/fuzz/%.c tests/fuzz/replay_main.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -o $@ $< tests/fuzz/replay_main.c $(LIB_A) $(LDLIBS)

# The vector bench compares batched search with FAISS (bench/faiss.cpp) when
# Debian's libfaiss-dev is installed: WITH_FAISS=1 by default then, 0 skips
# it.  libfaiss.a is static and C++; it needs BLAS/LAPACK (OpenBLAS through
# Debian's alternatives), OpenMP and the C++ runtime.
WITH_FAISS ?= $(if $(wildcard /usr/include/faiss/IndexFlat.h),1,0)
CXX     ?= c++
ifeq ($(WITH_FAISS),1)
BENCH_FAISS_OBJ := $(B)/bench/faiss.o
BENCH_LIBS := -lfaiss -llapack -lblas -fopenmp -lstdc++
else
BENCH_FAISS_OBJ :=
BENCH_LIBS :=
endif

$(B)/bench/faiss.o: bench/faiss.cpp
	@mkdir -p $(dir $@)
	$(CXX) -O2 -g -fopenmp -Wall -Wextra -c $< -o $@

$(B)/.faiss-%:
	@mkdir -p $(dir $@) && rm -f $(B)/.faiss-* && touch $@

$(BENCH_BIN): $(BENCH_SRC) $(LIB_A) $(BENCH_FAISS_OBJ) $(B)/.faiss-$(WITH_FAISS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -DBENCH_WITH_FAISS=$(WITH_FAISS) -Ibench -o $@ $(BENCH_SRC) \
		$(BENCH_FAISS_OBJ) $(LIB_A) $(BENCH_LIBS) $(LDLIBS) -lm

tests: $(UNIT_BIN) $(MP_BIN) $(FUZZ_REPLAY)

# ---------------------------------------------------------------- fragments
# Each fragments/NAME/ builds NAME.so from its *.c (test_*.c and bench_*.c
# are its tests and benchmark, client_*.c code for the programs that use
# it: all linked with the library instead).  Fragments
# do not link libsplinter: the host hands them its functions
# (include/splinter_fragment.h).  Test fragments: tests/frag/frag_*.c.
FRAG_NAMES := $(notdir $(patsubst %/,%,$(dir $(wildcard fragments/*/*.c))))
FRAG_NAMES := $(sort $(FRAG_NAMES))
# fragments/mirror needs libnats and the mirror library: WITH_NATS=1 only
# (its own rule, in the mirror section)
ifneq ($(WITH_NATS),1)
FRAG_NAMES := $(filter-out mirror,$(FRAG_NAMES))
endif
# fragments/hnsw has its own rules (fragments/hnsw/hnsw.mk): the index core,
# its tool, tests and benches, and its module hnsw.so
FRAG_NAMES := $(filter-out hnsw,$(FRAG_NAMES))
FRAG_SO    := $(patsubst %,$(B)/fragments/%.so,$(FRAG_NAMES))
FRAG_TESTS := $(patsubst fragments/%.c,$(B)/tests/%,$(wildcard fragments/*/test_*.c))
FRAG_BENCH := $(patsubst fragments/%.c,$(B)/bench/%,$(filter-out fragments/hnsw/% fragments/embed/bench_embed.c,\
	$(wildcard fragments/*/bench_*.c)))
TFRAG_SO   := $(patsubst tests/frag/%.c,$(B)/tests/frag/%.so,$(wildcard tests/frag/frag_*.c))
TFRAG_BIN  := $(patsubst tests/frag/%.c,$(B)/tests/%,$(wildcard tests/frag/test_*.c))
FRAG_CFLAGS := $(CFLAGS_BASE) -fPIC -shared -fvisibility=hidden

fragments: $(FRAG_SO)

.SECONDEXPANSION:
$(B)/fragments/%.so: $$(filter-out $$(wildcard fragments/$$*/test_*.c fragments/$$*/bench_*.c fragments/$$*/client_*.c),$$(wildcard fragments/$$*/*.c)) \
		include/splinter.h include/splinter_fragment.h
	@mkdir -p $(dir $@)
	$(CC) $(FRAG_CFLAGS) $(FRAG_XCFLAGS) -o $@ $(filter %.c,$^) $(FRAG_XLIBS) -lm

# the embed fragment carries llama.cpp with WITH_LLAMA=1
$(B)/fragments/embed.so: FRAG_XCFLAGS = $(LLAMA_CFLAGS)
$(B)/fragments/embed.so: FRAG_XLIBS = $(LLAMA_LIBS)
$(B)/fragments/embed.so: $(B)/.llama-$(WITH_LLAMA) $(LLAMA_STAMP)

# an LD_PRELOAD shim for tests/cli/repl.bats (no sanitizers: it loads
# into a sanitized splinterctl as a plain library)
$(B)/tests/ttyhold.so: tests/cli/ttyhold.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl

$(B)/tests/frag/%.so: tests/frag/%.c include/splinter.h include/splinter_fragment.h
	@mkdir -p $(dir $@)
	$(CC) $(FRAG_CFLAGS) -o $@ $<

$(B)/tests/%: fragments/%.c $(LIB_A) $(FRAG_SO)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Itests/common -o $@ $< $(LIB_A) $(LDLIBS)

$(B)/bench/%: fragments/%.c $(LIB_A) $(FRAG_SO)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -o $@ $< $(LIB_A) $(LDLIBS)

$(B)/tests/%: tests/frag/%.c $(LIB_A) $(TFRAG_SO)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -o $@ $< $(LIB_A) $(LDLIBS)

# The llama group (WITH_LLAMA=1): the "llama" embedder with the project's
# tiny nomic-bert model (scripts/tiny-model.py, random weights) against an
# independent numpy forward pass of the same model (tests/llama/).
.PHONY: test-llama
$(LLAMA_B)/tiny.gguf: scripts/tiny-model.py $(LLAMA_STAMP)
	/usr/bin/python3 scripts/tiny-model.py $@ $(LLAMA_B)/src/gguf-py

$(B)/tests/test_llama: tests/llama/test_llama.c fragments/embed/embedder.c fragments/embed/embedder.h \
		$(LLAMA_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(LLAMA_CFLAGS) -Ifragments/embed -o $@ tests/llama/test_llama.c \
		fragments/embed/embedder.c $(LLAMA_LIBS) $(LDLIBS)

# The embed fragment's benchmark (WITH_LLAMA=1; fragments/embed/bench_embed.c):
# the fragment against a plain llama.cpp loop, and the latency of a text's
# vector; `make bench` runs it with the tiny model and with a model of
# nomic-embed-text's shape (768 wide, 12 layers, Q8_0, random weights),
# generated here (build/llama/nomic-sized.gguf, 121 MB; not committed).
BENCH_EMBED := $(B)/bench/embed/bench_embed
$(BENCH_EMBED): fragments/embed/bench_embed.c $(LIB_A) $(LLAMA_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(LLAMA_CFLAGS) -o $@ $< $(LIB_A) $(LLAMA_LIBS) $(LDLIBS)

$(LLAMA_B)/nomic-sized.gguf: scripts/tiny-model.py $(LLAMA_STAMP)
	/usr/bin/python3 scripts/tiny-model.py $@ $(LLAMA_B)/src/gguf-py hidden=768 layers=12 heads=12 ff=3072 \
		ctx=2048 type=q8_0

.PHONY: bench-embed
bench-embed: $(BENCH_EMBED) $(B)/fragments/embed.so $(LLAMA_B)/tiny.gguf $(LLAMA_B)/nomic-sized.gguf
	$(BENCH_EMBED) $(B) $(LLAMA_B)/tiny.gguf --texts 2000 --runs 5 --threads 1 --latency 500
	$(BENCH_EMBED) $(B) $(LLAMA_B)/nomic-sized.gguf --texts 128 --runs 3 --threads 1 --latency 20

ifeq ($(WITH_LLAMA),1)
test-llama: cli fragments $(B)/tests/test_llama $(LLAMA_B)/tiny.gguf $(BENCH_EMBED)
	tests/run.sh llama "tests/llama/check.sh $(B)" \
		"$(BENCH_EMBED) $(B) $(LLAMA_B)/tiny.gguf --check --texts 300 --runs 1 --batch 8 --threads 1 --latency 50"
	SPLCTL=$(CURDIR)/$(CLI_BIN) MODEL=$(CURDIR)/$(LLAMA_B)/tiny.gguf \
		$(if $(filter 1,$(WITH_LUA)),LUA_MOD_DIR=$(CURDIR)/$(dir $(LUA_MOD))) tests/cli/run.sh llama-cli tests/llama
test-all: test-llama
else
test-llama:
	@echo "test-llama: build with WITH_LLAMA=1 (make WITH_LLAMA=1 test-llama)" >&2; exit 1
endif

# The fragment group: the ABI and registry in C (refused libraries,
# duplicate names, cross-process commands, a host killed and restarted
# catching up, rmmod), the DSP fragment against a reference computation,
# and the CLI commands (insmod, rmmod, lsmod, frag, host) with bats.
FRAG_GROUP ?= frag
test-frag: cli $(FRAG_SO) $(TFRAG_SO) $(TFRAG_BIN) $(FRAG_TESTS)
	tests/run.sh $(FRAG_GROUP) $(foreach t,$(TFRAG_BIN) $(FRAG_TESTS),"$(t) $(B)")
	SPLCTL=$(CURDIR)/$(CLI_BIN) TFRAG=$(CURDIR)/$(B)/tests/frag tests/cli/run.sh $(FRAG_GROUP)-cli tests/frag

bench-dsp: $(FRAG_BENCH)
	$(B)/bench/dsp/bench_dsp $(B)

# ---------------------------------------------------------------- mirror
# mirror/ (WITH_NATS=1): the NATS JetStream mirror, a library of its own
# (libsplinter-mirror.a, header mirror/splinter_mirror.h) over the core and
# libnats, and the program splinter-mirror.  The core never links libnats.

mirror: $(MIRROR_BIN) $(MIRROR_A) $(MIRROR_FRAG)

# The mirror as a fragment: the mirror library and the core (both PIC,
# static) inside the .so, their symbols hidden (only spl_fragment_entry is
# exported); kept loaded once loaded (-z nodelete: libnats and the core
# leave thread-exit and fork handlers behind).
$(MIRROR_FRAG): fragments/mirror/mirror_frag.c $(MIRROR_A) $(LIB_A) include/splinter_fragment.h \
		mirror/splinter_mirror.h
	@mkdir -p $(dir $@)
	$(CC) $(FRAG_CFLAGS) $(NATS_CFLAGS) -Imirror -o $@ $< $(MIRROR_A) $(LIB_A) \
		-Wl,--exclude-libs,ALL -Wl,-z,nodelete $(NATS_LIBS) $(LDLIBS)

$(B)/obj/mirror/%.o: mirror/%.c $(wildcard mirror/*.h) include/splinter.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -fPIC $(NATS_CFLAGS) -Imirror -c $< -o $@

$(MIRROR_A): $(MIRROR_OBJ)
	rm -f $@ && ar rcs $@ $^

$(MIRROR_BIN): mirror/main.c $(MIRROR_A) $(LIB_A)
	$(CC) $(CFLAGS_BASE) $(NATS_CFLAGS) -Imirror -o $@ $< $(MIRROR_A) $(LIB_A) $(NATS_LIBS) $(LDLIBS)

$(B)/tests/mirror_tool: tests/mirror/mirror_tool.c $(MIRROR_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(NATS_CFLAGS) -Imirror -o $@ $< $(MIRROR_A) $(LIB_A) $(NATS_LIBS) $(LDLIBS)

$(B)/tests/test_mirror_entry: tests/mirror/test_mirror_entry.c $(MIRROR_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Imirror -o $@ $< $(MIRROR_A) $(CMOCKA_LIBS)

# ---------------------------------------------------------------- tests
# tests/run.sh runs a list of commands, each under a timeout, and prints
# "N passed, N failed".  VALGRIND wraps the unit tests when asked.
ifeq ($(WITH_VALGRIND),1)
VG := valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --quiet
endif

test-unit: $(UNIT_BIN)
	VG="$(VG)" tests/run.sh unit $(UNIT_BIN)

test-mp: $(MP_BIN)
	B=$(B) tests/run-mp.sh $(B)

test-fuzz-replay: $(FUZZ_REPLAY)
	tests/run.sh replay $(foreach f,$(FUZZ_REPLAY),"$(f) tests/fuzz/corpus tests/fuzz/regressions")

# The suite under ASan+UBSan: unit tests, the multi-process tests, the
# splinterctl suite (group cli-asan), the fragment suite (frag-asan) and the
# HNSW fragment's (hnsw-asan).
test-asan:
	$(MAKE) B=build/asan WITH_VALGRIND=0 OPT=-O1 SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		CLI_GROUP=cli-asan FRAG_GROUP=frag-asan HNSW_GROUP=hnsw-asan test-unit test-mp test-fuzz-replay test-cli test-frag \
		$(if $(filter 1,$(WITH_EMBEDDINGS)),test-hnsw)

# ThreadSanitizer stress on one mapping (threads), no suppressions; and the
# vector protocol (set, clear, get, search) and the *_wait calls'
# contention sleeps the same way; and the fragment hosts (a host thread per
# fragment, in-process and spawned).
test-tsan:
	$(MAKE) B=build/tsan WITH_VALGRIND=0 CC=clang OPT=-O1 SAN="-fsanitize=thread" build/tsan/tests/tsan_stress \
		build/tsan/tests/tsan_signal build/tsan/tests/tsan_vec build/tsan/tests/tsan_contend \
		build/tsan/tests/test_frag
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" tests/run.sh tsan build/tsan/tests/tsan_stress \
		"build/tsan/tests/tsan_signal --ops 5000" build/tsan/tests/tsan_vec build/tsan/tests/tsan_contend \
		"build/tsan/tests/test_frag build/tsan"

# The kill loop and the vector check must fail against a build whose read
# path skips the epoch re-check, the no-loss hunt against one that frees
# every slot its writer died in (format 2's policy), the signal hunt against
# one that reads the bell too late, and contend against *_wait calls that
# never sleep: proves the checks can fail.  Each broken build holds its
# faulty window open (a pause mid-copy; the bell read held until a pulse),
# so that they fail on a busy machine too, and a run that passes anyway is
# repeated (expect-fail.sh --tries).
test-broken:
	$(MAKE) B=build/broken WITH_VALGRIND=0 XDEFS=-DSPL_BROKEN_NO_RECHECK=1 build/broken/tests/killloop \
		build/broken/tests/vectorn
	tests/run.sh broken "tests/expect-fail.sh --tries 3 build/broken/tests/killloop --kills 60 --expect-torn" \
		"tests/expect-fail.sh --tries 3 build/broken/tests/vectorn --expect-torn"
	$(MAKE) B=build/broken-loss WITH_VALGRIND=0 XDEFS=-DSPL_BROKEN_LOSSY=1 build/broken-loss/tests/noloss
	tests/run.sh broken-loss "tests/expect-fail.sh --tries 3 build/broken-loss/tests/noloss --max-ms 120000 --expect-loss"
	$(MAKE) B=build/broken-sig WITH_VALGRIND=0 XDEFS=-DSPL_BROKEN_BELL_LATE=1 build/broken-sig/tests/sighunt
	tests/run.sh broken-sig "tests/expect-fail.sh --tries 3 build/broken-sig/tests/sighunt --pulses 300 --kills 0 --sync-ms 100"
	$(MAKE) B=build/broken-sleep WITH_VALGRIND=0 XDEFS=-DSPL_BROKEN_NO_SLEEP=1 build/broken-sleep/tests/contend
	tests/run.sh broken-sleep "tests/expect-fail.sh --tries 3 build/broken-sleep/tests/contend --rounds 1"

# Model check of the slot protocol, the undo records and the cell arena
# (docs/model/slot.pml, undo.pml, cells.pml) with spin: the models must
# pass, their broken variants (and the found-* checks of problems found in
# src/kv.c and not fixed yet) must fail, their probes must be reached
# (tests/model/run-spin.sh; spin's files go to a temporary directory).  The
# script's last line is "model: N passed, N failed"; the counts go to
# $$SPL_SUMMARY like every tests/run.sh group's.
test-model:
	@rcf=$$(mktemp) && log=$$(mktemp) && \
	{ tests/model/run-spin.sh; echo $$? > $$rcf; } | tee $$log; \
	rc=$$(cat $$rcf); last=$$(tail -n 1 $$log); rm -f $$rcf $$log; \
	if [ -n "$$SPL_SUMMARY" ]; then \
	  case "$$last" in "model: "*) echo "$$last" | awk '{print $$2, $$4}';; *) echo "0 1";; esac >> "$$SPL_SUMMARY"; \
	fi; \
	exit $$rc

# The model's broken variants alone: each succeeds only if spin finds the
# violation (a torn read without the reader's epoch re-check, a duplicate
# key without the insert's Dekker scan).
test-model-broken-recheck:
	tests/model/run-spin.sh broken-recheck

test-model-broken-dekker:
	tests/model/run-spin.sh broken-dekker

# libFuzzer for a fixed budget from the seed corpus (clang from Debian).
FUZZ_SECONDS ?= 30
fuzz:
	$(MAKE) B=build/fuzz WITH_VALGRIND=0 CC=clang OPT=-O1 SAN="-fsanitize=fuzzer-no-link,address,undefined" lib
	@mkdir -p build/fuzz/corpus
	for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  clang $(CFLAGS_BASE) -O1 -fsanitize=fuzzer,address,undefined -o build/fuzz/$$n $$f build/fuzz/libsplinter.a $(LDLIBS) || exit 1; \
	  mkdir -p build/fuzz/corpus/$$n build/fuzz/crashes; \
	  build/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/crashes/ \
	     build/fuzz/corpus/$$n tests/fuzz/corpus || exit 1; done

# The pure key-value build (no vector space or code) passes the KV suite.
# A store made by either build is refused by the other (tests/xbuild.sh);
# when this build is itself the pure key-value one, the embeddings side is
# built in build/xbuild-emb.
XB_EMB := $(if $(filter 0,$(WITH_EMBEDDINGS)),build/xbuild-emb,$(B))
test-kvonly:
	$(MAKE) B=build/kvonly WITH_EMBEDDINGS=0 test-unit build/kvonly/tests/xbuild
	$(MAKE) B=$(XB_EMB) WITH_EMBEDDINGS=1 $(XB_EMB)/tests/xbuild
	tests/run.sh kvonly-xbuild "tests/xbuild.sh $(XB_EMB)/tests/xbuild build/kvonly/tests/xbuild"

# Each tests/run.sh group appends "passed failed [skipped]" to
# $$SPL_SUMMARY; the last line of `make test` is the grand total.  Skipped
# tests (those a WITH_EMBEDDINGS=0 build leaves out) are neither.
test:
	@mkdir -p build && rm -f build/test-summary
	$(MAKE) SPL_SUMMARY=$(CURDIR)/build/test-summary test-all
	@awk '{p+=$$1; f+=$$2; s+=$$3} END {printf "total: %d passed, %d failed", p, f; \
	  if (s) printf ", %d skipped (not in this build)", s; printf "\n"; exit f>0}' build/test-summary

# The benchmark must keep building and running (figures are not judged here).
test-bench: $(BENCH_BIN)
	tests/run.sh bench "$(BENCH_BIN) --quick --json"

# The NEON kernels, compiled for AArch64 (not run: this machine is x86-64).
test-neon:
	tests/run.sh neon tests/check-neon.sh

# splinterctl: every command, its --json output and exit codes, the REPL
# through a pseudo-terminal (bats and tmux from Debian; tests/cli/run.sh
# prints the group line).  With WITH_LUA=1 the Lua scripts too.
CLI_GROUP ?= cli
TTYHOLD := $(B)/tests/ttyhold.so
test-cli: $(CLI_BIN) $(TTYHOLD)
	SPLCTL=$(CURDIR)/$(CLI_BIN) TTYHOLD=$(CURDIR)/$(TTYHOLD) WITH_LUA=$(WITH_LUA) WITH_NUMA=$(WITH_NUMA) tests/cli/run.sh $(CLI_GROUP) tests/cli

# The mirror against a real nats-server (tests/mirror: each script starts
# its own on 127.0.0.1, a free port and a temporary directory, and stops it).
MIRROR_CASES := roundtrip kill server-restart overflow race badinput security fragment cli bench busy
test-mirror:
	$(MAKE) WITH_NATS=1 mirror cli $(MIRROR_TESTS)
	B=$(B) tests/run.sh mirror $(B)/tests/test_mirror_entry \
		$(foreach c,$(MIRROR_CASES),"tests/mirror/$(c).sh")

test-lua: cli fragments
	SPLCTL=$(CURDIR)/$(CLI_BIN) LUA_MOD_DIR=$(CURDIR)/$(dir $(LUA_MOD)) tests/cli/run.sh lua tests/lua

# The mirror's suite runs in a build without embeddings too: the scripts
# that store vectors run their key-value part there and say what they
# leave out ("SKIP ... (WITH_EMBEDDINGS=0)"), as the interop suite does.
test-all: all test-unit test-mp test-fuzz-replay test-broken test-model test-asan test-tsan \
	test-kvonly test-neon test-bench test-cli test-frag $(if $(filter 1,$(WITH_LUA)),test-lua) \
	test-mirror fuzz

# Regenerate the seed corpus (small valid stores plus hand-made corruptions).
fuzz-corpus: $(LIB_A)
	$(CC) $(CFLAGS_BASE) -o $(B)/tests/gen_corpus tests/fuzz/gen_corpus.c $(LIB_A) $(LDLIBS)
	rm -f tests/fuzz/corpus/* && $(B)/tests/gen_corpus tests/fuzz/corpus
	$(B)/tests/gen_corpus tests/fuzz/regressions --regressions

# ---------------------------------------------------------------- bench
bench: $(BENCH_BIN) $(if $(filter 1,$(WITH_LLAMA)),bench-embed)
	$(BENCH_BIN)

# ---------------------------------------------------------------- demo
demo: $(B)/examples/demo $(B)/examples/demo_embed $(B)/fragments/embed.so
	$(B)/examples/demo
	$(B)/examples/demo_embed $(B)

$(B)/examples/demo_embed: examples/demo_embed.c fragments/embed/embedder.c fragments/embed/embedder.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Ifragments/embed -o $@ examples/demo_embed.c fragments/embed/embedder.c $(LIB_A) $(LDLIBS)

$(B)/examples/demo: examples/demo.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -o $@ $< $(LIB_A) $(LDLIBS)

# Debian packages the build and the suite need (run as root).
deps:
	scripts/install-deps.sh

# ---------------------------------------------------------------- install
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/splinter.h include/splinter_fragment.h $(DESTDIR)$(INCDIR)/
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libsplinter.so.$(VERSION)
	ln -sf libsplinter.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsplinter.so
	install -m 644 $(B)/splinter.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(CLI_BIN) $(DESTDIR)$(BINDIR)/splinterctl
	install -m 644 docs/splinterctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -d $(DESTDIR)$(FRAGDIR)
	install -m 755 $(FRAG_SO) $(DESTDIR)$(FRAGDIR)/
ifeq ($(WITH_NATS),1)
	install -m 755 $(MIRROR_BIN) $(DESTDIR)$(BINDIR)/
	install -m 644 $(MIRROR_A) $(DESTDIR)$(LIBDIR)/
	install -m 644 mirror/splinter_mirror.h $(DESTDIR)$(INCDIR)/
endif
ifeq ($(WITH_LUA),1)
	install -d $(DESTDIR)$(LUA_CMOD)
	install -m 755 $(LUA_MOD) $(DESTDIR)$(LUA_CMOD)/splinter.so
endif

uninstall:
	rm -rf $(DESTDIR)$(FRAGDIR)
	rm -f $(DESTDIR)$(INCDIR)/splinter.h $(DESTDIR)$(INCDIR)/splinter_fragment.h $(DESTDIR)$(LIBDIR)/libsplinter.* \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/splinter.pc $(DESTDIR)$(BINDIR)/splinterctl \
	      $(DESTDIR)$(MANDIR)/man1/splinterctl.1 $(DESTDIR)$(LUA_CMOD)/splinter.so \
	      $(DESTDIR)$(BINDIR)/splinter-mirror $(DESTDIR)$(INCDIR)/splinter_mirror.h \
	      $(DESTDIR)$(LIBDIR)/libsplinter-mirror.a

# clean keeps build/llama (WITH_LLAMA=1's llama.cpp build, minutes to
# redo); distclean removes it too.
clean:
	@mkdir -p build && find build -mindepth 1 -maxdepth 1 ! -name llama -exec rm -rf {} +

distclean:
	rm -rf build

# ---------------------------------------------------------------- bindings: python, rust
# bindings/python (ctypes over $(LIB_SO)) and bindings/rust (links
# $(LIB_A) statically; cargo's output goes to $(B)/rust).  Each test target
# prints its runner's closing line and adds "passed failed skipped" to
# $$SPL_SUMMARY, so `make test` counts them (a skipped test, such as a
# vector test in a WITH_EMBEDDINGS=0 build, says why and is neither).
# bindings/covers.py checks that every binding lists every function and every
# public struct field of the header (bindings/*/COVERS), bound or omitted with
# a reason.
PYTHON ?= /usr/bin/python3
# cargo from PATH, else rustup's usual place (a shell without ~/.cargo/bin on PATH)
CARGO  ?= $(or $(shell command -v cargo 2>/dev/null),$(wildcard $(HOME)/.cargo/bin/cargo),cargo)
# SPLINTER_EXTRA_LIBS: what libsplinter.a needs beyond -lpthread -lm -ldl
# (-lnuma in a WITH_NUMA=1 build), for the bindings that link it statically
SPL_EXTRA_LIBS := $(filter-out -lpthread -lm -ldl,$(LDLIBS))
CARGO_ENV := SPLINTER_LIB_DIR=$(CURDIR)/$(B) CARGO_TARGET_DIR=$(CURDIR)/$(B)/rust SPLINTER_EXTRA_LIBS="$(SPL_EXTRA_LIBS)"
BIND_C_BENCH := $(B)/bench/bindings-c-kv

.PHONY: test-python test-rust test-covers bench-python bench-rust bench-c-kv bench-bindings install-python

# Both run in a WITH_EMBEDDINGS=0 build too: their vector tests skip there
# (the library's vec_simd() says "none") and the rest run.
test-all: test-covers test-python test-rust

test-python: lib cli fragments
	@rcf=$$(mktemp) && log=$$(mktemp) && \
	{ SPLINTER_LIB=$(CURDIR)/$(LIB_SO) $(PYTHON) -m pytest -q -rs -p no:cacheprovider bindings/python/tests; \
	  echo $$? > $$rcf; } 2>&1 | tee $$log; \
	rc=$$(cat $$rcf); last=$$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped)' $$log | tail -n 1); rm -f $$rcf $$log; \
	p=$$(echo "$$last" | grep -oE '[0-9]+ passed' | awk '{s+=$$1} END {print s+0}'); \
	f=$$(echo "$$last" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s+=$$1} END {print s+0}'); \
	s=$$(echo "$$last" | grep -oE '[0-9]+ skipped' | awk '{s+=$$1} END {print s+0}'); \
	[ "$$rc" -eq 0 ] || [ "$$f" -gt 0 ] || f=1; \
	[ -z "$$SPL_SUMMARY" ] || echo "$$p $$f $$s" >> "$$SPL_SUMMARY"; \
	exit $$rc

# cli fragments: tests/ann.rs starts the hnsw fragment with $$SPLCTL.
# libtest has no run-time skip: a test that does not apply returns early
# after a "SKIPPED name: why" line on stderr, and is counted as skipped,
# not passed.  First `cargo fmt --check` (one test more: the crate is
# rustfmt-clean), skipped with a line saying so where rustfmt is missing.
test-rust: lib cli fragments
	@fmt=skip; \
	if $(CARGO) fmt --version > /dev/null 2>&1; then \
	  if $(CARGO) fmt --check --manifest-path bindings/rust/Cargo.toml; then fmt=pass; \
	  else fmt=fail; echo "rust: FAILED cargo fmt --check: the crate is not rustfmt-clean (diff above; run cargo fmt in bindings/rust)"; fi; \
	else echo "rust: skipped cargo fmt --check: rustfmt is not installed (rustup component add rustfmt)"; fi; \
	rcf=$$(mktemp) && log=$$(mktemp) && \
	{ SPLCTL=$(CURDIR)/$(CLI_BIN) $(CARGO_ENV) $(CARGO) test --offline --manifest-path bindings/rust/Cargo.toml; \
	  echo $$? > $$rcf; } 2>&1 | tee $$log; \
	rc=$$(cat $$rcf); \
	p=$$(grep -oE '^test result: [A-Za-z]+\. [0-9]+ passed' $$log | awk '{s+=$$4} END {print s+0}'); \
	f=$$(grep -oE '[0-9]+ failed;' $$log | awk '{s+=$$1} END {print s+0}'); \
	s=$$(grep -c '^SKIPPED ' $$log); rm -f $$rcf $$log; p=$$((p - s)); \
	[ "$$rc" -eq 0 ] || [ "$$f" -gt 0 ] || f=1; \
	case $$fmt in pass) p=$$((p + 1));; fail) f=$$((f + 1)); rc=1;; *) s=$$((s + 1));; esac; \
	echo "rust: $$p passed, $$f failed$$([ $$s -gt 0 ] && echo ", $$s skipped")"; \
	[ -z "$$SPL_SUMMARY" ] || echo "$$p $$f $$s" >> "$$SPL_SUMMARY"; \
	exit $$rc

test-covers:
	@rcf=$$(mktemp) && log=$$(mktemp) && \
	{ $(PYTHON) bindings/covers.py; echo $$? > $$rcf; } | tee $$log; \
	rc=$$(cat $$rcf); last=$$(tail -n 1 $$log); rm -f $$rcf $$log; \
	if [ -n "$$SPL_SUMMARY" ]; then \
	  case "$$last" in "covers: "*) echo "$$last" | awk '{print $$2, $$4}';; *) echo "0 1";; esac >> "$$SPL_SUMMARY"; \
	fi; \
	exit $$rc

BIND_C_LOOP := $(B)/bench/libsplbench.so

$(BIND_C_BENCH): bench/bindings/c_kv.c bench/bindings/c_loop.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -o $@ $< $(LIB_A) $(LDLIBS)

# c_loop.h for the Python bench (ctypes), linked against libsplinter.so.0
# so that it shares the copy of the library the binding loaded.
$(BIND_C_LOOP): bench/bindings/c_loop.c bench/bindings/c_loop.h $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -fPIC -shared -o $@ $< -L$(B) -l:libsplinter.so -Wl,-rpath,$(CURDIR)/$(B)

# Get/set latency of 64-byte values (hot and random keys) against C in the
# same run (and, for Python, a redis-server on loopback); a table and a
# JSON line each.  bench/bindings/README.md.
bench-python: lib $(BIND_C_LOOP)
	SPLINTER_LIB=$(CURDIR)/$(LIB_SO) $(PYTHON) bindings/python/bench.py --c-loop $(BIND_C_LOOP) $(BENCH_ARGS)

bench-rust: lib
	$(CARGO_ENV) $(CARGO) run --offline --release --manifest-path bindings/rust/Cargo.toml \
		--example bench -- $(BENCH_ARGS)

# The workload in C alone, no binding loaded (a cross-check).
bench-c-kv: $(BIND_C_BENCH)
	$(BIND_C_BENCH) $(BENCH_ARGS)

bench-bindings: bench-python bench-rust bench-node bench-go

# The Python package where Debian's python3 looks (/usr/local/lib/python3.X/
# dist-packages; under $(DESTDIR) if set).  Offline: setuptools from Debian.
install-python:
	$(PYTHON) -m pip install --no-index --no-build-isolation --break-system-packages \
		$(if $(DESTDIR),--root $(DESTDIR)) ./bindings/python

# ---------------------------------------------------------------- bindings: Node.js, Go
# bindings/node: a Node-API addon (node-gyp and node-addon-api from npm,
# pinned in its package-lock.json) linked with $(LIB_A); bindings/go: a cgo
# package linked with build/libsplinter.a, standard library only, offline.
# test-node / test-go print "node: N passed, N failed" / "go: ..." and add
# the counts to $$SPL_SUMMARY like a tests/run.sh group.
.PHONY: test-node test-go bench-node bench-go
# Vector tests skip in a WITH_EMBEDDINGS=0 build, as in test-python.
test-all: test-node test-go
NODE_DIR   := bindings/node
NODE_ADDON := $(NODE_DIR)/build/Release/splinter.node
NODE_STAMP := $(NODE_DIR)/node_modules/.package-lock.json
GO_DIR     := bindings/go
# CGO_LDFLAGS come before the package's own: -L$(B) makes the package's
# -l:libsplinter.a (found in build/ otherwise) the library of this build.
GO_ENV     := GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=1 \
	CGO_LDFLAGS="-g -O2 -L$(CURDIR)/$(B) $(SPL_EXTRA_LIBS)" \
	GOCACHE=$(CURDIR)/build/go-cache GOPATH=$(CURDIR)/build/gopath

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

# The addon is built in one place whatever $(B) is: a stamp per $(B) relinks
# it when another build's library is asked for (make B=build/kvonly
# test-node, then make test-node), even if that library is the older file.
NODE_LIB_STAMP := build/.node-lib-$(subst /,-,$(B))
$(NODE_LIB_STAMP):
	@mkdir -p $(dir $@) && rm -f build/.node-lib-* && touch $@

$(NODE_ADDON): $(NODE_STAMP) $(LIB_A) $(NODE_LIB_STAMP) $(NODE_DIR)/binding.gyp $(wildcard $(NODE_DIR)/src/*.cc)
	cd $(NODE_DIR) && SPLINTER_LIB=$(CURDIR)/$(LIB_A) SPLINTER_EXTRA_LIBS="$(SPL_EXTRA_LIBS)" node scripts/gyp.cjs rebuild

# The closing "# pass N" / "# fail N" / "# skipped N" lines of the TAP log
# are the counts (a skipped test is neither a pass nor a failure).
# cli fragments: test/ann.test.mjs starts the hnsw fragment with $$SPLCTL.
test-node: $(NODE_ADDON) cli fragments
	@log=$$(mktemp); rc=0; \
	( cd $(NODE_DIR) && SPLCTL=$(CURDIR)/$(CLI_BIN) node --expose-gc --test --test-reporter=spec --test-reporter-destination=stdout \
	  --test-reporter=tap --test-reporter-destination=$$log test/*.test.mjs ) || rc=$$?; \
	p=$$(awk '/^# pass /{print $$3}' $$log); f=$$(awk '/^# (fail|cancelled) /{n+=$$3} END{print n+0}' $$log); \
	s=$$(awk '/^# skipped /{n+=$$3} END{print n+0}' $$log); \
	rm -f $$log; [ -n "$$p" ] || p=0; [ $$rc -eq 0 ] || [ $$f -gt 0 ] || f=1; \
	echo "node: $$p passed, $$f failed$$([ $$s -gt 0 ] && echo ", $$s skipped")"; \
	if [ -n "$$SPL_SUMMARY" ]; then echo "$$p $$f $$s" >> "$$SPL_SUMMARY"; fi; \
	exit $$rc

# Top-level tests and examples count ("--- PASS" / "--- FAIL" / "--- SKIP"
# at column 0; a skip's "SKIPPED: why" line is shown with it).
# cli fragments: ann_test.go starts the hnsw fragment with $$SPLCTL.
# Then the key-value tests again in the build with ordinary cgo calls
# instead of the direct ones (-tags splinter_cgo; bindings/go/direct.go).
test-go: $(LIB_A) cli fragments
	@log=$$(mktemp); rc=0; \
	( cd $(GO_DIR) && $(GO_ENV) go vet ./... && \
	  SPLCTL=$(CURDIR)/$(CLI_BIN) $(GO_ENV) go test -count=1 -v ./... && \
	  SPL_GO_TAG_CGO=1 $(GO_ENV) go test -tags splinter_cgo -count=1 -v \
	    -run '^(TestDirectCalls.*|TestKV|TestKeys|TestView|TestPreparedKey|TestContention)$$' . ) > $$log 2>&1 || rc=$$?; \
	grep -E '^(--- |ok|FAIL|PASS|panic)|SKIPPED' $$log; [ $$rc -eq 0 ] || tail -n 60 $$log; \
	p=$$(grep -c '^--- PASS' $$log); f=$$(grep -c '^--- FAIL' $$log); s=$$(grep -c '^--- SKIP' $$log); rm -f $$log; \
	[ $$rc -eq 0 ] || [ $$f -gt 0 ] || f=1; \
	echo "go: $$p passed, $$f failed$$([ $$s -gt 0 ] && echo ", $$s skipped")"; \
	if [ -n "$$SPL_SUMMARY" ]; then echo "$$p $$f $$s" >> "$$SPL_SUMMARY"; fi; \
	exit $$rc

# get/set of 64-byte values against the same loop in C; BENCH_ARGS=--json
bench-node: $(NODE_ADDON)
	cd $(NODE_DIR) && node bench/bench.mjs $(BENCH_ARGS)

bench-go: $(LIB_A)
	cd $(GO_DIR) && $(GO_ENV) go run ./cmd/splbench $(subst --,-,$(BENCH_ARGS))

# ---------------------------------------------------------------- bindings: interop
# One store, worker processes in C, Python, Node.js, Rust and Go at the same
# time (tests/interop/README.md): a shared counter, each other's keys byte
# for byte, a vector search across languages, watchers across languages, and
# SIGKILLs mid-write.  tests/interop/run.py prints "interop: N passed, N
# failed" and adds the counts to $$SPL_SUMMARY.
# (In a WITH_EMBEDDINGS=0 build the store keeps no vectors and the vector
# phase is skipped, saying so; the rest runs.)
.PHONY: test-interop
test-all: test-interop
INTEROP_C    := $(B)/interop/c-worker
INTEROP_GO   := $(B)/interop/go-worker
INTEROP_RUST := $(B)/rust/debug/examples/interop

$(INTEROP_C): tests/interop/worker.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -o $@ $< $(LIB_A) $(LDLIBS)

test-interop: lib $(INTEROP_C) $(NODE_ADDON)
	@{ $(CARGO_ENV) $(CARGO) build --offline --example interop --manifest-path bindings/rust/Cargo.toml && \
	  ( cd $(GO_DIR) && $(GO_ENV) go build -o $(CURDIR)/$(INTEROP_GO) ./cmd/interop ); } || \
	{ echo "interop: 0 passed, 1 failed (workers did not build)"; \
	  [ -z "$$SPL_SUMMARY" ] || echo "0 1" >> "$$SPL_SUMMARY"; exit 1; }
	SPLINTER_LIB=$(CURDIR)/$(LIB_SO) $(PYTHON) tests/interop/run.py --python $(PYTHON) \
		--c $(INTEROP_C) --rust $(INTEROP_RUST) --go $(INTEROP_GO)

# ---------------------------------------------------------------- fragments/hnsw
include fragments/hnsw/hnsw.mk
