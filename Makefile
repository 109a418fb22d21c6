# kaiwu build: one library (libkaiwu.a), one CLI (kaiwu), test binaries.
#
#   make            build library and CLI into build/
#   make run        build, then generate text from a test model
#   make test       build and run the whole suite; ends with "N passed, N failed"
#   make test SAN=1 the same suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-san/)
#   make format     clang-format every C file in place
#   make data       fetch the poetry corpus, prepare it, train a vocabulary, build SFT data
#   make model      the shipped model from the corpus (data, pretrain, SFT, Q8_0); see docs/training.md
#   make deps-check list the Debian packages still missing (scripts/install-deps.sh installs them)
#   make bench      build, write missing benchmark models (bench/models/), run `kaiwu bench` on
#                   them (minutes; never part of `make test`); see docs/performance.md
#
# Per-ISA kernel files (src/tensor/kernels/<isa>/) are compiled with their own -m flags and are
# only ever called after run-time CPU feature detection, so one binary runs on any x86-64.

CC      ?= cc
SAN     ?= 0
OPT     ?= -O2

# ---------------------------------------------------------------- dependencies
# The libraries come from pkg-config. When one is missing, the build stops before compiling with
# one line that says what to run; `make run` first installs them itself when it can do so without
# asking (root or password-less sudo, apt present), through scripts/install-deps.sh --build.
# `make test` never installs anything: it also checks the tools the suite drives (TEST_TOOLS).
# Goals that compile nothing (clean, format, test-neon, deps-check) skip the check.
PKG_CONFIG   ?= pkg-config
PKGS         := libpcre2-8 libutf8proc jansson libedit libmicrohttpd opencc
INSTALL_DEPS ?= sh scripts/install-deps.sh --build
CAN_INSTALL  ?= $(shell command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; } && echo yes)
TEST_TOOLS   ?= xz tmux aarch64-linux-gnu-gcc qemu-aarch64
DEPS_HINT    := run 'sh scripts/install-deps.sh' (Debian/Ubuntu; it says what each package is for), then make again

# The missing pieces, as words: a compiler, pkg-config, or pkg-config package names.
deps_missing = $(shell command -v $(firstword $(CC)) >/dev/null 2>&1 || printf 'a-C-compiler(%s) ' '$(CC)'; \
    if command -v $(PKG_CONFIG) >/dev/null 2>&1; then \
        for p in $(PKGS); do $(PKG_CONFIG) --exists $$p || printf '%s ' $$p; done; \
    else printf '%s ' '$(PKG_CONFIG)'; fi)

BUILD_GOALS := $(filter-out clean format format-check test-neon deps-check model-clean,$(or $(MAKECMDGOALS),all))
ifneq ($(BUILD_GOALS),)
DEPS_MISSING := $(deps_missing)
ifneq ($(and $(DEPS_MISSING),$(filter run,$(MAKECMDGOALS)),$(CAN_INSTALL)),)
$(info make run: missing $(DEPS_MISSING)- installing with $(INSTALL_DEPS))
INSTALL_STATUS := $(shell $(INSTALL_DEPS) >&2; echo $$?)
DEPS_MISSING := $(deps_missing)
endif
ifneq ($(DEPS_MISSING),)
$(error missing $(DEPS_MISSING)- $(DEPS_HINT))
endif
ifneq ($(filter test,$(MAKECMDGOALS)),)
TOOLS_MISSING := $(shell for t in $(TEST_TOOLS); do command -v $$t >/dev/null 2>&1 || printf '%s ' $$t; done)
ifneq ($(TOOLS_MISSING),)
$(error make test needs $(TOOLS_MISSING)- $(DEPS_HINT))
endif
endif
# Not silenced: if pkg-config fails here, its own message says why.
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
ifneq ($(.SHELLSTATUS),0)
$(error '$(PKG_CONFIG) --cflags $(PKGS)' failed (its message is above) - $(DEPS_HINT))
endif
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS))
ifneq ($(.SHELLSTATUS),0)
$(error '$(PKG_CONFIG) --libs $(PKGS)' failed (its message is above) - $(DEPS_HINT))
endif
endif

ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT     := -O1
else
BUILD   ?= build
SANFLAGS :=
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wvla
CFLAGS  += -std=c17 $(OPT) -g $(WARN) -D_GNU_SOURCE -Iinclude -Isrc -Itests $(PKG_CFLAGS) $(SANFLAGS) -pthread
LDLIBS  += $(PKG_LIBS) -lm -pthread
LDFLAGS += $(SANFLAGS)

# Kernel directories for other architectures are left out (x86 files need -m flags this compiler
# may not have); arm_neon files compile to nothing off aarch64.
MACHINE   := $(shell $(CC) -dumpmachine 2>/dev/null)
ifneq ($(findstring x86_64,$(MACHINE)),x86_64)
LIB_EXCLUDE := -not -path 'src/tensor/kernels/x86_*'
endif
# MPI (data-parallel training, src/train/train_mpi.c): built in when mpicc is found (Debian
# libopenmpi-dev); MPI=0 builds without it. Only that file sees the MPI headers; every binary
# links libmpi, which initialises nothing unless `kaiwu train` runs under mpirun.
MPI ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)
ifeq ($(MPI),1)
MPI_CFLAGS := $(shell mpicc --showme:compile 2>/dev/null) -DKAIWU_MPI
LDLIBS     += $(shell mpicc --showme:link 2>/dev/null)
endif

LIB_SRCS  := $(shell find src -name '*.c' $(LIB_EXCLUDE) | sort)
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_SRCS  := $(shell find tools/kaiwu -name '*.c' | sort)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS := $(shell find tests/unit tests/conformance -name 'test_*.c' 2>/dev/null | sort)
TEST_BINS := $(patsubst %.c,$(BUILD)/%,$(TEST_SRCS))
TEST_COMMON := $(BUILD)/tests/test_common.o
TOOL_SRCS := $(shell find tests/tools tests/bad-input tests/model -name '*.c' 2>/dev/null | sort)
TOOL_BINS := $(patsubst %.c,$(BUILD)/%,$(TOOL_SRCS))

LIB := $(BUILD)/libkaiwu.a
CLI := $(BUILD)/kaiwu

.PHONY: all run test test-san test-neon format clean bench data model model-check model-clean deps-check
all: $(LIB) $(CLI)

ISA_AVX2   := -mavx2 -mfma -mf16c
ISA_AVX512 := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16

$(BUILD)/src/tensor/kernels/x86_avx2/%.o: CFLAGS += $(ISA_AVX2)
$(BUILD)/src/tensor/kernels/x86_avx512/%.o: CFLAGS += $(ISA_AVX512)
$(BUILD)/src/tensor/kernels/arm_neon/%.o: CFLAGS += $(if $(findstring aarch64,$(MACHINE)),-march=armv8.2-a+dotprod)

$(BUILD)/src/train/train_mpi.o: CFLAGS += $(MPI_CFLAGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(CLI): $(CLI_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS)

$(BUILD)/tests/test_common.o: tests/test_common.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(LIB) $(TEST_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(TEST_COMMON) $(LIB) $(LDLIBS)

# `make run`: a poem from the shipped model (models/kaiwu-shi.gguf, built by `make model`),
# asked through its chat template with a fixed seed. Without the file it says so and stops.
RUN_MODEL  ?= models/kaiwu-shi.gguf
RUN_PROMPT ?= 写一首五言绝句，题目是《春望》
RUN_SEED   ?= 1
run: all
	@if [ ! -f "$(RUN_MODEL)" ]; then \
	    echo "make run: $(RUN_MODEL) is missing: build it with 'make model' (about 2 hours on" \
	         "2 cores), or give another model: make run RUN_MODEL=path/to/model.gguf" >&2; \
	    exit 1; fi
	$(CLI) run -m $(RUN_MODEL) --chat-template model -p "$(RUN_PROMPT)" -n 96 --seed $(RUN_SEED)

# Fixtures stored compressed (over 8 MiB) are decompressed next to their archive.
XZ_FIXTURES := $(patsubst %.xz,%,$(wildcard tests/data/*/*.xz))
%.gguf: %.gguf.xz
	xz -dkc $< > $@.tmp && mv $@.tmp $@

test: all $(TEST_BINS) $(TOOL_BINS) $(XZ_FIXTURES)
	@BUILD=$(BUILD) sh tests/run.sh

test-san:
	$(MAKE) SAN=1 test

# Benchmarks: random-weight models in real shapes (bench/bench_model.c), then one kaiwu bench run
# over all of them. Override e.g. BENCH_ARGS="-p 128 -n 32 -r 5 -t 1,2" BENCH_SHAPES=0.5B.
BENCH_SHAPES ?= 0.5B,1B
BENCH_TYPES  ?= q4_0,q4_k_m,q8_0
BENCH_ARGS   ?= -p 512 -n 128 -r 5 -t 1,2
BENCH_STEMS   = $(foreach s,$(subst $(comma), ,$(BENCH_SHAPES)),$(BENCH_STEM_$(s)))
comma := ,
BENCH_STEM_0.5B := qwen2.5-0.5b
BENCH_STEM_1B   := llama-3.2-1b
BENCH_STEM_1.5B := qwen2.5-1.5b
BENCH_STEM_135M := smollm2-135m
BENCH_MODELS = $(foreach s,$(BENCH_STEMS),$(foreach t,$(subst $(comma), ,$(BENCH_TYPES)),bench/models/$(s)-$(t).gguf))

$(BUILD)/bench/make_models: bench/make_models.c bench/bench_model.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# One panel matmul on one thread, against the int8 probe (see bench/panel_bench.c).
$(BUILD)/bench/panel_bench: bench/panel_bench.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# The grammar stage's cost: tg tokens/s and mask time per token with and without the built-in
# JSON grammar (or a GBNF file, or a JSON Schema .json); run it by hand:
# $(BUILD)/bench/grammar_bench MODEL.gguf [N] [GRAMMAR.gbnf | SCHEMA.json] (docs/performance.md).
$(BUILD)/bench/grammar_bench: bench/grammar_bench.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# The training matrix products (tensor/gemm.h) against the f32 / bf16 peaks (bench/gemm_bench.c);
# run it by hand: $(BUILD)/bench/gemm_bench [--bf16] (docs/performance.md).
$(BUILD)/bench/gemm_bench: bench/gemm_bench.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

bench: all $(BUILD)/bench/make_models $(BUILD)/bench/panel_bench $(BUILD)/bench/gemm_bench
	$(BUILD)/bench/make_models -o bench/models -s $(BENCH_SHAPES) -q $(BENCH_TYPES)
	$(CLI) bench $(BENCH_ARGS) $(foreach m,$(BENCH_MODELS),-m $(m))

# ---------------------------------------------------------------- the shipped model
# `make model` reproduces models/kaiwu-shi.gguf from the corpus: fetch (npm chinese-poetry@2.0.1,
# sha512-checked), prepare, tokenizer, pretraining, SFT, Q8_0 (docs/training.md). Everything in
# between lives in MODEL_WORK (git-ignored, kept by `make clean`: checkpoints survive); each stage
# is a file target, and both training stages run with --resume auto, so an interrupted `make
# model` continues where it stopped. `make model-check` runs the acceptance checks on the result.
MODEL_WORK    ?= build-model
CORPUS        ?= corpus
MODEL_OUT     ?= models/kaiwu-shi.gguf
MODEL_THREADS ?= 2
MODEL_VOCAB   ?= 8192
# Characters seen at least 30 times get a token of their own, the rest of the 8192 go to BPE
# merges (1284; 0.84 tokens per character): with the default 3 the characters alone fill the
# vocabulary and no merge is left (docs/training-data.md). Rarer characters use byte fallback.
MODEL_MIN_COUNT ?= 30
MODEL_CORPUS  := chinese-poetry 2.0.1 (npm, MIT)
MD            := $(MODEL_WORK)/data

model: $(MODEL_OUT)

$(CORPUS)/chinese-poetry/.kaiwu-integrity:
	sh scripts/fetch-corpus.sh $(CORPUS)

$(MD)/train.txt: $(CORPUS)/chinese-poetry/.kaiwu-integrity | $(CLI)
	@mkdir -p $(MODEL_WORK)
	$(CLI) data prepare --in $(CORPUS)/chinese-poetry --out $(MD)

$(MD)/vocab.gguf: $(MD)/train.txt | $(CLI)
	$(CLI) tokenizer-train --data $(MD)/train.txt --vocab $(MODEL_VOCAB) --min-count $(MODEL_MIN_COUNT) \
	    --out $@

$(MD)/sft.jsonl: $(MD)/train.txt | $(CLI)
	$(CLI) data sft --in $(MD) --out $@ --eval $(MD)/eval.jsonl

$(MODEL_WORK)/pretrain.gguf: $(MD)/vocab.gguf models/kaiwu-shi.json | $(CLI)
	$(CLI) train --data $(MD) --out $@ --config models/kaiwu-shi.json -t $(MODEL_THREADS) \
	    --checkpoint-dir $(MODEL_WORK)/ckpt-pretrain --resume auto --log-every 10 \
	    --name kaiwu-shi --corpus "$(MODEL_CORPUS)"

$(MODEL_WORK)/sft.gguf: $(MODEL_WORK)/pretrain.gguf $(MD)/sft.jsonl models/kaiwu-shi-sft.json | $(CLI)
	$(CLI) train --sft --init $(MODEL_WORK)/pretrain.gguf --data $(MD)/sft.jsonl --out $@ \
	    --config models/kaiwu-shi-sft.json -t $(MODEL_THREADS) \
	    --checkpoint-dir $(MODEL_WORK)/ckpt-sft --resume auto --log-every 10 \
	    --name kaiwu-shi --corpus "$(MODEL_CORPUS), SFT conversations of kaiwu data sft"

$(MODEL_OUT): $(MODEL_WORK)/sft.gguf | $(CLI)
	$(CLI) quantize $(MODEL_WORK)/sft.gguf $@ Q8_0

# The acceptance checks (tests/model/model_check.c): the 五言/七言绝句 shape of sampled replies to
# the held-out titles (at least 90 %), and validation perplexity per character against a
# character bigram on the same split.
# The titles: $(MD)/eval.jsonl (631, from kaiwu data sft --eval) when `make data` made it, else the
# committed 50 of them (tests/data/model/eval-shape-50.jsonl). make test runs a 20-title version
# (tests/e2e/model_shape.sh).
MODEL_EVAL ?= $(if $(wildcard $(MD)/eval.jsonl),$(MD)/eval.jsonl,tests/data/model/eval-shape-50.jsonl)
model-check: $(BUILD)/tests/model/model_check
	$(BUILD)/tests/model/model_check shape -m $(MODEL_OUT) --eval $(MODEL_EVAL) --min 0.9 \
	    -t $(MODEL_THREADS)
	$(BUILD)/tests/model/model_check ppl -m $(MODEL_OUT) --train $(MD)/train.txt \
	    --val $(MD)/val.txt -t $(MODEL_THREADS)

model-clean:
	rm -rf $(MODEL_WORK)

# `make data`: only the data stages of `make model` (docs/training-data.md), into $(MD).
data: $(MD)/vocab.gguf $(MD)/sft.jsonl

# ---------------------------------------------------------------- fuzz targets, TSan, format check (docs/testing.md)
# Each tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput; its corpus is tests/fuzz/corpus/<name>/.
# `make test` links each with tests/fuzz/replay_main.c into $(BUILD)/tests/fuzz/replay_<name>, which
# replays the committed corpus (one test per file; also under SAN=1). `make fuzz FUZZ_SECONDS=N`
# builds each with clang -fsanitize=fuzzer,address,undefined in build-fuzz/ (library objects with
# fuzzer-no-link) and runs each for N seconds on its corpus; new inputs and crashes go to
# build-fuzz/found/<name>/, never into the committed corpus. FUZZ_TARGETS=a,b picks targets.
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES   := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAYS := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/replay_%)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(subst $(space),$(comma),$(FUZZ_NAMES))
FUZZ_ARGS    ?=
space := $(subst ,, )

# fuzz_logits runs `kaiwu perplexity --kl-base` (the reader lives in the command): it links the
# CLI's objects but main.o (the target includes main.c with main renamed).
FUZZ_EXTRA_logits := $(filter-out $(BUILD)/tools/kaiwu/main.o,$(CLI_OBJS))
$(BUILD)/tests/fuzz/replay_logits $(BUILD)/tests/fuzz/fuzz_logits: $(FUZZ_EXTRA_logits)

$(BUILD)/tests/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(LIB) $(TEST_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< tests/fuzz/replay_main.c $(FUZZ_EXTRA_$*) $(TEST_COMMON) \
	    $(LIB) $(LDLIBS)

test: $(FUZZ_REPLAYS)

ifeq ($(FUZZ_BUILD),1)
# Inside `make fuzz` (clang): warnings stay on but do not stop the build (the gcc build is the gate).
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
    -fno-omit-frame-pointer
OPT      := -O1
WARN     += -Wno-error
endif

$(BUILD)/tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB) $(TEST_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_EXTRA_$*) $(TEST_COMMON) $(LIB) $(LDLIBS)

fuzz-bins: $(foreach n,$(subst $(comma), ,$(FUZZ_TARGETS)),$(BUILD)/tests/fuzz/fuzz_$(n))

fuzz-run: fuzz-bins
	@for n in $(subst $(comma), ,$(FUZZ_TARGETS)); do \
	    mkdir -p $(BUILD)/found/$$n; \
	    echo "== fuzz $$n for $(FUZZ_SECONDS) s"; \
	    $(BUILD)/tests/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/found/$$n/ $(FUZZ_ARGS) $(BUILD)/found/$$n tests/fuzz/corpus/$$n \
	        || exit 1; \
	done

fuzz:
	$(MAKE) CC=clang BUILD=build-fuzz FUZZ_BUILD=1 MPI=0 fuzz-run

.PHONY: fuzz fuzz-run fuzz-bins

# ThreadSanitizer: `make test-tsan` builds the library and the tests that share objects between
# threads with clang -fsanitize=thread in build-tsan/ and runs them (docs/testing.md).
TSAN_TESTS ?= tests/unit/test_threads_shared tests/unit/test_threadpool tests/unit/test_errors
ifeq ($(SAN),tsan)
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
OPT      := -O1
WARN     += -Wno-error
endif

tsan-run: $(TSAN_TESTS:%=$(BUILD)/%)
	@fail=0; for t in $(TSAN_TESTS); do \
	    echo "== $$t (ThreadSanitizer)"; \
	    TSAN_OPTIONS=halt_on_error=1 $(BUILD)/$$t > $(BUILD)/tsan.log 2>&1 || fail=1; \
	    grep -E 'passed|WARNING: ThreadSanitizer|SUMMARY' $(BUILD)/tsan.log; \
	done; [ $$fail = 0 ]

test-tsan:
	$(MAKE) CC=clang BUILD=build-tsan SAN=tsan MPI=0 tsan-run

# Fails when clang-format would change any file (`make format` fixes them); CI runs it.
format-check:
	clang-format --dry-run --Werror $$(find src include tools tests -name '*.[ch]')

.PHONY: test-tsan tsan-run format-check
# ---------------------------------------------------------------- end of fuzz targets

# NEON kernels: cross-compiled kernel test under qemu-aarch64 (scripts/install-deps.sh installs the
# tools; this never does). `make test` runs it too, through tests/cross/neon.sh.
test-neon:
	sh scripts/test-neon.sh

# What is missing to build and test, without installing anything.
deps-check:
	@sh scripts/install-deps.sh --check

format:
	clang-format -i $$(find src include tools tests -name '*.[ch]')

clean:
	rm -rf build build-san build-neon build-fuzz build-tsan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
