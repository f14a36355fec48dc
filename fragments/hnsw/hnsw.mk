# fragments/hnsw: the HNSW fragment (fragments/hnsw/README.md), built in
# embeddings builds: hnsw.so (the module, with the shipped fragments),
# libsplinter-hnsw.a (the index, for readers), splinter-hnsw (build, sync,
# stat, check), the tests (make test-hnsw, a tests/run.sh
# group) and the benches (make bench-hnsw: hnsw-bench, and hnsw-compare
# head to head with hnswlib when Debian's libhnswlib-dev and g++ are there).
# Included at the end of the Makefile.
ifeq ($(WITH_EMBEDDINGS),1)

HNSW_DIR   := fragments/hnsw
HNSW_B     := $(B)/fragments/hnsw
# -O3 where the build is optimised (the search loop: heaps and inlining)
HNSW_CFLAGS := $(CFLAGS_BASE) $(if $(filter -O2,$(OPT)),-O3) -I$(HNSW_DIR)
HNSW_HDR   := $(HNSW_DIR)/hnsw.h $(HNSW_DIR)/hnsw_layout.h include/splinter.h
HNSW_LIB   := $(HNSW_B)/libsplinter-hnsw.a
HNSW_TOOL  := $(HNSW_B)/splinter-hnsw
HNSW_SO    := $(B)/fragments/hnsw.so
HNSW_TEST_SRC := $(sort $(wildcard $(HNSW_DIR)/tests/test_*.c))
HNSW_TESTS := $(patsubst $(HNSW_DIR)/tests/%.c,$(HNSW_B)/%,$(HNSW_TEST_SRC))
HNSW_BENCH := $(HNSW_B)/hnsw-bench
HNSW_CMP   := $(HNSW_B)/hnsw-compare
HNSW_HAVE_HNSWLIB := $(shell test -f /usr/include/hnswlib/hnswlib.h && command -v g++ >/dev/null && echo 1)

.PHONY: hnsw test-hnsw test-hnsw-broken bench-hnsw

hnsw: $(HNSW_LIB) $(HNSW_TOOL)
all: hnsw

$(HNSW_B)/%.o: $(HNSW_DIR)/%.c $(HNSW_HDR) $(HNSW_DIR)/hnsw_data.h
	@mkdir -p $(dir $@)
	$(CC) $(HNSW_CFLAGS) -c $< -o $@

$(HNSW_LIB): $(HNSW_B)/hnsw.o $(HNSW_B)/hnsw_ops.o
	rm -f $@ && ar rcs $@ $^

$(HNSW_TOOL): $(HNSW_DIR)/hnsw_tool.c $(HNSW_LIB) $(LIB_A) $(HNSW_HDR)
	$(CC) $(HNSW_CFLAGS) -o $@ $< $(HNSW_LIB) $(LIB_A) $(LDLIBS)

$(HNSW_B)/test_%: $(HNSW_DIR)/tests/test_%.c $(HNSW_DIR)/tests/hnsw_test.h $(HNSW_LIB) $(LIB_A) $(HNSW_DIR)/hnsw_data.h
	@mkdir -p $(dir $@)
	$(CC) $(HNSW_CFLAGS) -I$(HNSW_DIR)/tests -o $@ $< $(HNSW_LIB) $(LIB_A) $(LDLIBS)

# test_frag loads the module from BUILD/fragments/hnsw.so
$(HNSW_B)/test_frag: $(HNSW_SO)

$(HNSW_BENCH): $(HNSW_DIR)/bench_hnsw.c $(HNSW_LIB) $(LIB_A) $(HNSW_DIR)/hnsw_data.h
	$(CC) $(HNSW_CFLAGS) -o $@ $< $(HNSW_LIB) $(LIB_A) $(LDLIBS)

# hnswlib is C++ and header only; -march=native as its authors recommend
# (it picks its SIMD at compile time).
$(HNSW_CMP): $(HNSW_DIR)/bench_hnswlib.cpp $(HNSW_LIB) $(LIB_A)
	g++ -std=c++17 -O3 -march=native -DNDEBUG -w -Iinclude -I$(HNSW_DIR) -o $@ $< $(HNSW_LIB) $(LIB_A) $(LDLIBS)

# The fragment module: `splinterctl insmod hnsw` (hnsw_frag.c + the index,
# -DHNSW_MODULE: no libsplinter inside, the host's table fills hnsw_ops;
# -z defs: a call that would need libsplinter fails the link, not insmod).
$(HNSW_SO): $(HNSW_DIR)/hnsw_frag.c $(HNSW_DIR)/hnsw.c $(HNSW_HDR) include/splinter_fragment.h
	@mkdir -p $(dir $@)
	$(CC) $(HNSW_CFLAGS) -DHNSW_MODULE -fPIC -shared -fvisibility=hidden -Wl,-z,defs -o $@ \
		$(HNSW_DIR)/hnsw_frag.c $(HNSW_DIR)/hnsw.c -lpthread -lm
fragments: $(HNSW_SO)
FRAG_SO += $(HNSW_SO)

# splinterctl's `search --ann` maps the index (cli/cmd_vec.c).
$(CLI_BIN): $(HNSW_LIB)
CLI_HNSW := $(HNSW_LIB)
CLI_CFLAGS += -I$(HNSW_DIR) -DSPLCTL_WITH_HNSW=1

# Each test prints what it shows; the group line goes to $$SPL_SUMMARY.
HNSW_GROUP ?= hnsw
test-hnsw: $(HNSW_TESTS) $(HNSW_BENCH) $(HNSW_TOOL) $(CLI_BIN) $(HNSW_SO)
	tests/run.sh $(HNSW_GROUP) $(HNSW_TESTS) "$(HNSW_BENCH) --quick" \
		"$(HNSW_DIR)/tests/cli_ann.sh $(CLI_BIN) $(HNSW_TOOL)" \
		"$(HNSW_DIR)/tests/frag_cli.sh $(CLI_BIN) $(HNSW_TOOL)"

test-all: test-hnsw

# The concurrency test must fail against readers without the seqlock
# (hnsw.c, HNSW_BROKEN_NO_RECHECK): proves its torn-list audit can fail.
HNSW_BROKEN_B := build/broken-hnsw/fragments/hnsw
test-hnsw-broken: $(LIB_A)
	@mkdir -p $(HNSW_BROKEN_B)
	$(CC) $(HNSW_CFLAGS) -DHNSW_BROKEN_NO_RECHECK=1 -I$(HNSW_DIR)/tests -o $(HNSW_BROKEN_B)/test_concurrent \
		$(HNSW_DIR)/tests/test_concurrent.c $(HNSW_DIR)/hnsw.c $(HNSW_DIR)/hnsw_ops.c $(LIB_A) $(LDLIBS)
	tests/run.sh broken-hnsw "$(HNSW_BROKEN_B)/test_concurrent --expect-torn"

test-broken: test-hnsw-broken

# 20k x 768 by default (HNSW_BENCH_ARGS="--n 100000 --nq 200" for the big run).
HNSW_BENCH_ARGS ?= --n 20000 --nq 300
bench-hnsw: $(HNSW_BENCH) $(if $(HNSW_HAVE_HNSWLIB),$(HNSW_CMP))
	@mkdir -p $(HNSW_B)/data
	$(HNSW_BENCH) $(HNSW_BENCH_ARGS) --dump $(HNSW_B)/data/bench
ifeq ($(HNSW_HAVE_HNSWLIB),1)
	$(HNSW_CMP) $(HNSW_B)/data/bench.lowdim.bin
	$(HNSW_CMP) $(HNSW_B)/data/bench.clustered.bin
else
	@echo "bench-hnsw: no hnswlib (apt-get install libhnswlib-dev g++): head to head skipped"
endif

bench: bench-hnsw

endif
