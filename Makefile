# tsl - Token Status List in C. A hand-written Makefile in the manner of zlib's.
#
#   make            build/libtsl.a, build/libtsl.so, build/tsl
#   make test       the whole suite (unit, vectors, fuzz corpus replay, CLI, Python
#                   cross-checks); last line "tests: N passed, N failed"
#   make check      the same suite under ASan and UBSan in build-asan/, then the
#                   export check of libtsl.so
#   make fuzz       libFuzzer targets under clang, FUZZ_SECONDS each (default 60)
#   make bench      JSON lines per case (see BENCHMARKS.md)
#   make demo       install missing Debian packages (as root), build, run the main job
#   make install    PREFIX=/usr/local DESTDIR= (library, header, tsl.pc, command,
#                   manual pages, bash completion)
#   make deb        the Debian packages (debian/) built, linted, installed in a scratch
#                   root and tried (tests/deb.sh; CI runs it)
#   WERROR=1        turn warnings into errors (CI does)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
# bash-completion's directory for completions loaded on demand (by the command's name).
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DESTDIR ?=

BUILD ?= build
CC ?= cc
CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual -Wstrict-prototypes \
       -Wmissing-prototypes -Wformat=2 -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif
# libpq (the PostgreSQL store, src/store/store_pg.c): Debian's libpq-dev puts
# libpq-fe.h under /usr/include/postgresql.
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
CPPFLAGS_ALL = -Iinclude -Isrc -I$(BUILD)/gen -D_GNU_SOURCE $(PQ_CFLAGS) $(CPPFLAGS)
CFLAGS_ALL = -std=c11 $(WARN) $(CFLAGS)
LIBS = -lsqlite3 -lpq -lcbor -ljansson -ldeflate -lz -lcurl -lcrypto -lpthread -lm

# PKCS#11 (src/crypto/pkcs11*.c): p11-kit's pkcs11.h from libp11-kit-dev; modules are
# dlopen'ed at run time, the default being p11-kit's proxy module.
P11_CFLAGS := $(shell pkg-config --cflags p11-kit-1 2>/dev/null || echo -I/usr/include/p11-kit-1)
P11_PROXY := $(shell pkg-config --variable=proxy_module p11-kit-1 2>/dev/null || echo p11-kit-proxy.so)
P11_MODDIR := $(shell pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null || echo /usr/lib/pkcs11)
P11_CONFDIR := $(shell pkg-config --variable=p11_system_config_modules p11-kit-1 2>/dev/null || echo /usr/share/p11-kit/modules)
P11_DEFS = $(P11_CFLAGS) -DTSLP_P11_PROXY='"$(P11_PROXY)"' -DTSLP_P11_MODULE_DIR='"$(P11_MODDIR)"' \
           -DTSLP_P11_CONFIG_DIR='"$(P11_CONFDIR)"'
CPPFLAGS_ALL += $(P11_DEFS)

SOVERSION = 0
# The version has one source, TSL_VERSION in include/tsl.h: tsl.pc, the shared library's
# file name and (checked by debian/rules) the Debian package's version follow it.
VERSION := $(shell sed -n 's/^\#define TSL_VERSION "\(.*\)"/\1/p' include/tsl.h)

LIB_SRC = $(sort $(wildcard src/*/*.c))
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC = $(sort $(wildcard tools/*.c))
TOOL_OBJ = $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_SRC = tests/run.c $(sort $(wildcard tests/test_*.c))
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)
FUZZ_SRC = $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES = $(FUZZ_SRC:tests/fuzz/%.c=%)

.PHONY: all lib tools examples test check fuzz bench demo install uninstall clean deps deb
all: lib tools examples
lib: $(BUILD)/libtsl.a $(BUILD)/libtsl.so
tools: $(BUILD)/tsl
# Programs of an embedder, built against the static library only (examples/*.c).
EXAMPLE_SRC = $(sort $(wildcard examples/*.c))
examples: $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

# Header dependencies are generated (-MMD -MP): touching any header rebuilds exactly the
# objects that include it, and a deleted header does not break the build.
DEPFLAGS = -MMD -MP

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(DEPFLAGS) -DTSL_BUILDING -fPIC -fvisibility=hidden $(CFLAGS_ALL) -c $< -o $@

# The encoder's inner loops (a run of one byte, a period) are a few instructions each,
# and the CPU here ran one 3 times slower when the linker happened to place it across a
# 64-byte boundary (BENCHMARKS.md, "The encoder's scratch space"): aligned, their speed
# no longer depends on what else is linked.
$(BUILD)/src/codec/sldeflate.o: CFLAGS_ALL += -falign-loops=32

$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(DEPFLAGS) -Itools $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(DEPFLAGS) -Itests $(CFLAGS_ALL) -c $< -o $@

# The OpenAPI document of the issuer API (api/openapi.json), compiled into the library as
# a byte array (src/admin/openapi.c includes it): od and awk, no xxd. A NUL follows the
# bytes so that the document is also a C string.
$(BUILD)/gen/openapi_json.h: api/openapi.json
	@mkdir -p $(dir $@)
	{ echo '/* generated from api/openapi.json by the Makefile; do not edit */'; \
	  echo 'static const unsigned char tslp_openapi_json[] = {'; \
	  od -An -v -tu1 api/openapi.json | awk '{ for (i = 1; i <= NF; i++) printf "%s,", $$i; print "" }'; \
	  echo '0};'; } > $@.tmp && mv $@.tmp $@
$(BUILD)/src/admin/openapi.o: $(BUILD)/gen/openapi_json.h

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

$(BUILD)/libtsl.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libtsl.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libtsl.so.$(SOVERSION) $(CFLAGS_ALL) $(LDFLAGS) -o $@ $^ $(LIBS)

# The command links the static library: one self-contained binary. GnuTLS: the admin
# listener checks client certificates itself (tools/serve_admin.c), since libmicrohttpd
# only asks for them.
$(BUILD)/tsl: $(TOOL_OBJ) $(BUILD)/libtsl.a
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libtsl.a $(LIBS) -lmicrohttpd -lgnutls

$(BUILD)/tests/run: $(TEST_OBJ) $(BUILD)/libtsl.a
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libtsl.a $(LIBS)

$(BUILD)/examples/%: examples/%.c include/tsl.h $(BUILD)/libtsl.a
	@mkdir -p $(dir $@)
	$(CC) -Iinclude $(CFLAGS_ALL) $(LDFLAGS) -o $@ $< $(BUILD)/libtsl.a $(LIBS)

# Fuzz targets built with the standalone replay driver (any compiler), so the corpus
# and every crash regression replay in `make test`.
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.c $(wildcard tests/fuzz/*.h) $(BUILD)/libtsl.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -o $@ $< tests/fuzz/replay.c $(BUILD)/libtsl.a $(LIBS)

# A small signing tool for the signature interop check (tests/sig_xcheck.py).
$(BUILD)/sigtool: tests/sigtool.c $(BUILD)/libtsl.a
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(LDFLAGS) -o $@ $< $(BUILD)/libtsl.a $(LIBS)

BENCH_SRC = tests/bench.c tests/bench_store.c tests/bench_verify.c tests/bench_pkcs11.c \
            tests/bench_incr.c tests/bench_idlist.c tests/bench_prices.c
$(BUILD)/bench: $(BENCH_SRC) tests/bench.h $(BUILD)/libtsl.a
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -O2 -o $@ $(BENCH_SRC) $(BUILD)/libtsl.a $(LIBS)

test: all $(BUILD)/tests/run $(BUILD)/sigtool $(BUILD)/bench $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)
	@BUILD=$(BUILD) sh tests/run_all.sh

# ASan cannot start under `ulimit -v`, so allocations are capped through ASAN_OPTIONS:
# an unbounded allocation fails the run instead of passing quietly.
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
check:
	$(MAKE) BUILD=build-asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" all
	ASAN_OPTIONS=max_allocation_size_mb=768:allocator_may_return_null=1:detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 TSL_SANITIZED=1 \
	$(MAKE) BUILD=build-asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" test
	$(MAKE) lib
	sh tests/check_exports.sh $(BUILD)/libtsl.so

FUZZ_SECONDS ?= 60
fuzz: $(BUILD)/gen/openapi_json.h
	@mkdir -p build-fuzz
	@for t in $(FUZZ_NAMES); do \
	  clang $(CPPFLAGS_ALL) -DTSL_BUILDING -g -O1 -fsanitize=fuzzer,address,undefined \
	    -o build-fuzz/$$t tests/fuzz/$$t.c $(LIB_SRC) $(LIBS) || exit 1; \
	  mkdir -p build-fuzz/corpus-$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	  build-fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -malloc_limit_mb=256 -rss_limit_mb=1024 \
	    -artifact_prefix=build-fuzz/ build-fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

bench: $(BUILD)/bench $(BUILD)/tsl
	@BUILD=$(BUILD) sh tests/bench.sh

# The Debian packages built from a copy of the tree, linted, extracted into a scratch
# root and tried there (tests/deb.sh; about 2 minutes). TSL_DEB_OUT=DIR keeps them.
deb:
	@sh tests/deb.sh

deps:
	@sh scripts/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(BUILD)

# tsl.pc is written afresh by every install, for that install's PREFIX and LIBDIR: a file
# target would be kept from an earlier install into another prefix.
install: all
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' tsl.pc.in > $(BUILD)/tsl.pc
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR)
	install -m 644 $(BUILD)/libtsl.a $(DESTDIR)$(LIBDIR)/libtsl.a
	install -m 755 $(BUILD)/libtsl.so $(DESTDIR)$(LIBDIR)/libtsl.so.$(VERSION)
	ln -sf libtsl.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libtsl.so.$(SOVERSION)
	ln -sf libtsl.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libtsl.so
	install -m 644 include/tsl.h $(DESTDIR)$(INCLUDEDIR)/tsl.h
	install -m 644 $(BUILD)/tsl.pc $(DESTDIR)$(LIBDIR)/pkgconfig/tsl.pc
	install -m 755 $(BUILD)/tsl $(DESTDIR)$(BINDIR)/tsl
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(BASHCOMPDIR)
	install -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(wildcard man/*.3) $(DESTDIR)$(MANDIR)/man3/
	install -m 644 completion/tsl.bash $(DESTDIR)$(BASHCOMPDIR)/tsl

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libtsl.a $(DESTDIR)$(LIBDIR)/libtsl.so* \
	      $(DESTDIR)$(INCLUDEDIR)/tsl.h $(DESTDIR)$(LIBDIR)/pkgconfig/tsl.pc $(DESTDIR)$(BINDIR)/tsl \
	      $(patsubst man/%,$(DESTDIR)$(MANDIR)/man1/%,$(wildcard man/*.1)) \
	      $(patsubst man/%,$(DESTDIR)$(MANDIR)/man3/%,$(wildcard man/*.3)) \
	      $(DESTDIR)$(BASHCOMPDIR)/tsl

clean:
	rm -rf build build-asan build-fuzz
