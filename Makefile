# mod_ptth: build both modules with apxs, run the tests, run the demo.
# Licensed under the Apache License, Version 2.0.

APXS      ?= $(shell command -v apxs 2>/dev/null || echo /usr/bin/apxs)
# Where `make deb` assembles the package's source tree and leaves the .deb.
DEB_DIR   ?= $(CURDIR)/build/deb
# Extra compiler flags (e.g. sanitizers) passed through apxs -Wc/-Wl.
SAN_CFLAGS ?=
SAN_LDFLAGS ?=

# apxs says how httpd was built (compiler, Debian's hardening flags,
# include paths); make compiles each file itself, so that `make -j` runs
# them in parallel, and links each module with the compiler.  (apxs -c
# compiles one file after another through libtool, whose shell costs more
# than the compiler here: 55 s against 10 s for a clean build.)
# Each query runs once, when a recipe first needs it (a make that only
# runs `test` or `lognos` asks apxs nothing): apxs is a Perl script that
# runs apr-1-config, a tenth of a second each time.
apxs_q    = $(shell $(APXS) -q $(1) 2>/dev/null)
AP_CC      = $(eval AP_CC := $(call apxs_q,CC))$(AP_CC)
AP_CFLAGS  = $(eval AP_CFLAGS := $(foreach v,CFLAGS CPPFLAGS NOTEST_CPPFLAGS \
                 EXTRA_CPPFLAGS EXTRA_CFLAGS,$(call apxs_q,$(v))) \
                 -I$(call apxs_q,INCLUDEDIR) -I$(call apxs_q,APR_INCLUDEDIR) \
                 -I$(call apxs_q,APU_INCLUDEDIR))$(AP_CFLAGS)
AP_LDFLAGS = $(eval AP_LDFLAGS := $(foreach v,LDFLAGS NOTEST_LDFLAGS,$(call apxs_q,$(v))))$(AP_LDFLAGS)

# Paths are relative to the top of the tree (make runs there): the flags,
# and so build/obj/flags, do not depend on where the tree lives, and a
# copy of a built tree (make deb DEB_REUSE_BUILD=1) is up to date.
PTTH_CFLAGS = -fPIC -DPIC $(AP_CFLAGS) -Wall -Wextra -Werror -std=gnu11 -g \
              -Iinclude $(SAN_CFLAGS) -MMD -MP
PTTH_LDFLAGS = -shared $(AP_LDFLAGS) $(SAN_LDFLAGS) \
               -Wl,--version-script=build/exports.map

COMMON_SRC  = $(wildcard common/*.c)
ROUTER_SRC  = $(wildcard mod_ptth_router/*.c)
BACKEND_SRC = $(wildcard mod_ptth_backend/*.c)

# Objects live under build/obj/, one directory per source directory.
COMMON_OBJ  = $(patsubst %.c,build/obj/%.o,$(COMMON_SRC))
ROUTER_OBJ  = $(patsubst %.c,build/obj/%.o,$(ROUTER_SRC))
BACKEND_OBJ = $(patsubst %.c,build/obj/%.o,$(BACKEND_SRC))

ROUTER_SO  = mod_ptth_router/.libs/mod_ptth_router.so
BACKEND_SO = mod_ptth_backend/.libs/mod_ptth_backend.so

.PHONY: all router backend test test-asan asan demo install clean deps lognos deb fuzz

# Without apxs (package apache2-dev) nothing builds: say how to get it
# rather than failing with the shell's "Error 127".
NEED_APXS = @$(APXS) -q CC >/dev/null 2>&1 || { \
    echo "make: apxs not found ($(APXS)): it comes with the Debian package" \
         "apache2-dev; 'make deps' (build/install-deps.sh) installs it and the" \
         "other build and test packages, or set APXS=/path/to/apxs" >&2; exit 1; }

all: router backend

router: $(ROUTER_SO)
backend: $(BACKEND_SO)

# A module's own directory is on its include path (its private headers).
build/obj/common/%.o: common/%.c build/obj/flags
	@mkdir -p $(@D)
	$(AP_CC) $(PTTH_CFLAGS) -c -o $@ $<

build/obj/mod_ptth_router/%.o: mod_ptth_router/%.c build/obj/flags
	@mkdir -p $(@D)
	$(AP_CC) $(PTTH_CFLAGS) -Imod_ptth_router -c -o $@ $<

build/obj/mod_ptth_backend/%.o: mod_ptth_backend/%.c build/obj/flags
	@mkdir -p $(@D)
	$(AP_CC) $(PTTH_CFLAGS) -Imod_ptth_backend -c -o $@ $<

# Each .so exports only its module record: the shared code (common/) is
# linked into both, and httpd loads modules RTLD_GLOBAL, so exported
# copies would interpose on each other when one httpd loads both.
$(ROUTER_SO): $(ROUTER_OBJ) $(COMMON_OBJ) build/exports.map
	@mkdir -p $(@D)
	$(AP_CC) $(PTTH_LDFLAGS) -o $@ $(ROUTER_OBJ) $(COMMON_OBJ) -lnghttp2 -lssl -lcrypto

$(BACKEND_SO): $(BACKEND_OBJ) $(COMMON_OBJ) build/exports.map
	@mkdir -p $(@D)
	$(AP_CC) $(PTTH_LDFLAGS) -o $@ $(BACKEND_OBJ) $(COMMON_OBJ) -lnghttp2 -lssl -lcrypto

# The flags are part of every object: a build with other flags (the
# sanitizers of `make test-asan`) rebuilds everything.
build/obj/flags: FORCE
	$(NEED_APXS)
	@mkdir -p $(@D)
	@echo '$(AP_CC) $(PTTH_CFLAGS) $(PTTH_LDFLAGS)' | cmp -s - $@ \
	    || echo '$(AP_CC) $(PTTH_CFLAGS) $(PTTH_LDFLAGS)' > $@
FORCE:

-include $(COMMON_OBJ:.o=.d) $(ROUTER_OBJ:.o=.d) $(BACKEND_OBJ:.o=.d)

install: all
	$(NEED_APXS)
	$(APXS) -i -n ptth_router $(ROUTER_SO)
	$(APXS) -i -n ptth_backend $(BACKEND_SO)

# Installs missing Debian packages (as root, or through sudo), then builds
# and runs the TAP suite as an unprivileged user.
test:
	@build/run-tests.sh

# The same suite with AddressSanitizer and UBSan in both modules.
test-asan asan:
	@PTTH_SANITIZE=1 build/run-tests.sh

# Long fuzzing runs: every libFuzzer target t/fuzz/fuzz_*.c (or those in
# FUZZ_TARGETS, e.g. FUZZ_TARGETS=handshake) for FUZZ_SECONDS each, one
# after the other.  Scratch (binaries, grown corpora, logs, crash
# artifacts): build/fuzz/<target>/, kept.  `make test` fuzzes briefly (t/07).
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?=
fuzz:
	@PTTH_FUZZ_SECONDS=$(FUZZ_SECONDS) PTTH_FUZZ_TMP=$(CURDIR)/build/fuzz \
	    t/fuzz/run-fuzz.sh $(FUZZ_TARGETS)

demo:
	@build/demo.sh

deps:
	@build/install-deps.sh

# The Debian package libapache2-mod-ptth (both modules, with a .load and a
# commented .conf each in /etc/apache2/mods-available, for a2enmod).  The
# packaging lives in build/debian/; this copies the sources and it into a
# scratch source tree under $(DEB_DIR)/src/, builds there with
# dpkg-buildpackage (which runs this Makefile, so the same apxs and
# warning flags), and leaves $(DEB_DIR)/libapache2-mod-ptth_<version>_<arch>.deb.
# DEB_REUSE_BUILD=1 (t/95) copies this tree's objects too and skips the
# package's pre-build clean (-nc): the package's make then compiles only
# what is out of date there (sources or flags changed), which after `make`
# is nothing.  Without it the package builds from clean sources.
DEB_REUSE_BUILD ?= 0
DEB_SOURCES = Makefile LICENSE README.md common include mod_ptth_router \
              mod_ptth_backend build/exports.map docs
deb:
	$(NEED_APXS)
	@for t in dpkg-buildpackage dpkg-parsechangelog dh dh_apache2; do \
	    command -v $$t >/dev/null 2>&1 || { echo "make deb: $$t not found:" \
	        "'make deps' (build/install-deps.sh) installs the packages it needs" >&2; \
	        exit 1; }; done
	@set -e; \
	ver=$$(dpkg-parsechangelog -l build/debian/changelog -S Version); \
	src=$(DEB_DIR)/src/libapache2-mod-ptth-$$ver; \
	rm -rf $(DEB_DIR)/src; mkdir -p $$src; \
	tar -cf - --exclude=.libs --exclude='*.la' --exclude='*.lo' --exclude='*.slo' \
	    --exclude='*.o' $(DEB_SOURCES) | tar -C $$src -xf -; \
	cp -r build/debian $$src/debian; \
	nc=; \
	if [ "$(DEB_REUSE_BUILD)" = 1 ] && [ -f build/obj/flags ] \
	        && [ -f $(ROUTER_SO) ] && [ -f $(BACKEND_SO) ]; then \
	    tar -cf - build/obj $(ROUTER_SO) $(BACKEND_SO) | tar -C $$src -xf -; \
	    nc=-nc; \
	    echo "make deb: reusing this tree's objects where their sources and flags match"; \
	fi; \
	echo "make deb: dpkg-buildpackage -us -uc -b -Jauto $$nc in $$src"; \
	( cd $$src && dpkg-buildpackage -us -uc -b -Jauto $$nc ) > $(DEB_DIR)/src/build.log 2>&1 || { \
	    tail -n 40 $(DEB_DIR)/src/build.log >&2; \
	    echo "make deb: dpkg-buildpackage failed; log: $(DEB_DIR)/src/build.log" >&2; exit 1; }; \
	rm -f $(DEB_DIR)/*.deb; \
	mv $(DEB_DIR)/src/*.deb $(DEB_DIR)/; \
	for f in $(DEB_DIR)/*.deb; do echo "make deb: $$f"; done

# Every PTTHLOGNO number is used once.
lognos:
	@dups=$$(grep -ho 'PTTHLOGNO([0-9]*)' common/*.c mod_ptth_*/*.c | sort | uniq -d); \
	if [ -n "$$dups" ]; then echo "duplicate log numbers: $$dups"; exit 1; fi; \
	echo "log numbers unique"

clean:
	rm -rf build/obj build/deb mod_ptth_router/.libs mod_ptth_backend/.libs
	rm -f mod_ptth_*/*.la mod_ptth_*/*.lo mod_ptth_*/*.slo mod_ptth_*/*.o
