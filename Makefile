# Splinter build.  `make`, `make test`, `make bench`, `make install`.
# Switches: WITH_EMBEDDINGS=0|1 (default 1), WITH_VALGRIND=1, WITH_LUA=1 (the
# CLI's `lua` command and the loadable Lua module), WITH_NUMA=1 (NUMA
# placement of stores with libnuma: src/numa.c, -lnuma; without it the
# library has no libnuma and a NUMA policy is SPL_ENOTSUP), WITH_LLAMA=1
# (wired by a later module and accepted here without effect).
#
# Variants build into their own folder: build/ (default), build/asan,
# build/tsan, build/broken (the kill-loop check's deliberately broken read
# path), build/fuzz (clang + libFuzzer).

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=

WITH_EMBEDDINGS ?= 1
WITH_VALGRIND   ?= 0
WITH_NUMA       ?= 0
WITH_LUA        ?= 0
WITH_LLAMA      ?= 0

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
CFLAGS_LIB  := $(CFLAGS_BASE) -fPIC -fvisibility=hidden
LDLIBS      := -lpthread -lm
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
CLI_SRC  := $(filter-out cli/cmd_lua.c,$(sort $(wildcard cli/*.c)))
CLI_BIN  := $(B)/splinterctl
CLI_CFLAGS := $(shell pkg-config --cflags jansson libedit 2>/dev/null) -Icli -DSPLCTL_WITH_LUA=$(WITH_LUA)
CLI_LIBS := $(shell pkg-config --libs jansson libedit 2>/dev/null || echo -ljansson -ledit)
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

.PHONY: all lib cli tests bench install uninstall clean test test-unit test-mp test-cli test-lua \
	test-fuzz-replay test-asan test-tsan test-broken test-kvonly test-neon test-bench test-all fuzz fuzz-corpus deps demo \
	test-model test-model-broken-recheck test-model-broken-dekker

all: lib $(B)/splinter.pc cli

cli: $(CLI_BIN) $(if $(filter 1,$(WITH_LUA)),$(LUA_MOD))

# The stamp relinks the CLI when WITH_LUA changes.
$(B)/.cli-lua-%:
	@mkdir -p $(dir $@) && rm -f $(B)/.cli-lua-* && touch $@

$(CLI_BIN): $(CLI_SRC) $(wildcard cli/*.h lua/*.h) $(LIB_A) $(B)/.cli-lua-$(WITH_LUA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CLI_CFLAGS) -o $@ $(CLI_SRC) $(CLI_HNSW) $(LIB_A) $(CLI_LIBS) $(LDLIBS)

# The loadable module: the same binding, linked with the PIC static library
# (no dependency on an installed libsplinter.so); Lua's symbols come from
# the interpreter that loads it.
$(LUA_MOD): $(LUA_SRC) $(wildcard lua/*.h) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(LUA_CFLAGS) -fPIC -shared -o $@ $(LUA_SRC) $(LIB_A) $(LDLIBS)

lib: $(LIB_A) $(LIB_SO)

$(B)/obj/%.o: src/%.c $(wildcard src/*.h) include/splinter.h
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

$(BENCH_BIN): $(BENCH_SRC) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Ibench -o $@ $(BENCH_SRC) $(LIB_A) $(LDLIBS) -lm

tests: $(UNIT_BIN) $(MP_BIN) $(FUZZ_REPLAY)

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
# splinterctl suite (group cli-asan) and the HNSW fragment's (hnsw-asan).
test-asan:
	$(MAKE) B=build/asan WITH_VALGRIND=0 OPT=-O1 SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		CLI_GROUP=cli-asan HNSW_GROUP=hnsw-asan test-unit test-mp test-fuzz-replay test-cli \
		$(if $(filter 1,$(WITH_EMBEDDINGS)),test-hnsw)

# ThreadSanitizer stress on one mapping (threads), no suppressions; and the
# vector protocol (set, clear, get, search) and the *_wait calls'
# contention sleeps the same way.
test-tsan:
	$(MAKE) B=build/tsan WITH_VALGRIND=0 CC=clang OPT=-O1 SAN="-fsanitize=thread" build/tsan/tests/tsan_stress \
		build/tsan/tests/tsan_signal build/tsan/tests/tsan_vec build/tsan/tests/tsan_contend
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" tests/run.sh tsan build/tsan/tests/tsan_stress \
		"build/tsan/tests/tsan_signal --ops 5000" build/tsan/tests/tsan_vec build/tsan/tests/tsan_contend

# The kill loop must fail against a build whose read path skips the epoch
# re-check: proves the check can fail.  The no-loss hunt must find a lost
# key in a build that frees every slot its writer died in (format 2's policy).
# Likewise sighunt against a sleeper that reads the bell late, and contend
# against *_wait calls that never sleep.
test-broken:
	$(MAKE) B=build/broken WITH_VALGRIND=0 XDEFS=-DSPL_BROKEN_NO_RECHECK=1 build/broken/tests/killloop \
		build/broken/tests/vectorn
	tests/run.sh broken "tests/expect-fail.sh build/broken/tests/killloop --kills 60 --expect-torn" \
		"tests/expect-fail.sh build/broken/tests/vectorn --expect-torn"
	$(MAKE) B=build/broken-loss WITH_VALGRIND=0 XDEFS=-DSPL_BROKEN_LOSSY=1 build/broken-loss/tests/noloss
	tests/run.sh broken-loss "tests/expect-fail.sh build/broken-loss/tests/noloss --max-ms 120000 --expect-loss"
	$(MAKE) B=build/broken-sig WITH_VALGRIND=0 XDEFS=-DSPL_BROKEN_BELL_LATE=1 build/broken-sig/tests/sighunt
	tests/run.sh broken-sig "tests/expect-fail.sh build/broken-sig/tests/sighunt --pulses 4000 --kills 0 --sync-ms 100"
	$(MAKE) B=build/broken-sleep WITH_VALGRIND=0 XDEFS=-DSPL_BROKEN_NO_SLEEP=1 build/broken-sleep/tests/contend
	tests/run.sh broken-sleep "tests/expect-fail.sh build/broken-sleep/tests/contend --rounds 1"

# Model check of the slot protocol (docs/model/slot.pml) with spin: the
# model must pass, its broken variants must fail, its probes must be reached
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
# A store made by either build is refused by the other (tests/xbuild.sh).
test-kvonly:
	$(MAKE) B=build/kvonly WITH_EMBEDDINGS=0 test-unit build/kvonly/tests/xbuild
	$(MAKE) $(B)/tests/xbuild
	tests/run.sh kvonly-xbuild "tests/xbuild.sh $(B)/tests/xbuild build/kvonly/tests/xbuild"

# Each tests/run.sh group appends "passed failed" to $$SPL_SUMMARY; the last
# line of `make test` is the grand total.
test:
	@mkdir -p build && rm -f build/test-summary
	$(MAKE) SPL_SUMMARY=$(CURDIR)/build/test-summary test-all
	@awk '{p+=$$1; f+=$$2} END {printf "total: %d passed, %d failed\n", p, f; exit f>0}' build/test-summary

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
test-cli: $(CLI_BIN)
	SPLCTL=$(CURDIR)/$(CLI_BIN) WITH_LUA=$(WITH_LUA) WITH_NUMA=$(WITH_NUMA) tests/cli/run.sh $(CLI_GROUP) tests/cli

test-lua: cli
	SPLCTL=$(CURDIR)/$(CLI_BIN) LUA_MOD_DIR=$(CURDIR)/$(dir $(LUA_MOD)) tests/cli/run.sh lua tests/lua

test-all: all test-unit test-mp test-fuzz-replay test-broken test-model test-asan test-tsan \
	test-kvonly test-neon test-bench test-cli $(if $(filter 1,$(WITH_LUA)),test-lua) fuzz

# Regenerate the seed corpus (small valid stores plus hand-made corruptions).
fuzz-corpus: $(LIB_A)
	$(CC) $(CFLAGS_BASE) -o $(B)/tests/gen_corpus tests/fuzz/gen_corpus.c $(LIB_A) $(LDLIBS)
	rm -f tests/fuzz/corpus/* && $(B)/tests/gen_corpus tests/fuzz/corpus
	$(B)/tests/gen_corpus tests/fuzz/regressions --regressions

# ---------------------------------------------------------------- bench
bench: $(BENCH_BIN)
	$(BENCH_BIN)

# ---------------------------------------------------------------- demo
demo: $(B)/examples/demo
	$(B)/examples/demo

$(B)/examples/demo: examples/demo.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -o $@ $< $(LIB_A) $(LDLIBS)

# Debian packages the build and the suite need (run as root).
deps:
	scripts/install-deps.sh

# ---------------------------------------------------------------- install
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/splinter.h $(DESTDIR)$(INCDIR)/
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libsplinter.so.$(VERSION)
	ln -sf libsplinter.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsplinter.so
	install -m 644 $(B)/splinter.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(CLI_BIN) $(DESTDIR)$(BINDIR)/splinterctl
	install -m 644 docs/splinterctl.1 $(DESTDIR)$(MANDIR)/man1/
ifeq ($(WITH_LUA),1)
	install -d $(DESTDIR)$(LUA_CMOD)
	install -m 755 $(LUA_MOD) $(DESTDIR)$(LUA_CMOD)/splinter.so
endif

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/splinter.h $(DESTDIR)$(LIBDIR)/libsplinter.* \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/splinter.pc $(DESTDIR)$(BINDIR)/splinterctl \
	      $(DESTDIR)$(MANDIR)/man1/splinterctl.1 $(DESTDIR)$(LUA_CMOD)/splinter.so

clean:
	rm -rf build

# ---------------------------------------------------------------- fragments
include fragments/hnsw/hnsw.mk
