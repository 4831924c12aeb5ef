# mod_ptth: build both modules with apxs, run the tests, run the demo.
# Licensed under the Apache License, Version 2.0.

APXS      ?= $(shell command -v apxs 2>/dev/null || echo /usr/bin/apxs)
# Where `make deb` assembles the package's source tree and leaves the .deb.
DEB_DIR   ?= $(CURDIR)/build/deb
# Extra compiler flags (e.g. sanitizers) passed through apxs -Wc/-Wl.
SAN_CFLAGS ?=
SAN_LDFLAGS ?=

WFLAGS    = -Wc,-Wall -Wc,-Wextra -Wc,-Werror -Wc,-std=gnu11 -Wc,-g
APXSFLAGS = $(WFLAGS) -I$(CURDIR)/include $(foreach f,$(SAN_CFLAGS),-Wc,$(f)) \
            $(foreach f,$(SAN_LDFLAGS),-Wl,$(f))

COMMON_SRC  = $(wildcard common/*.c)
ROUTER_SRC  = $(wildcard mod_ptth_router/*.c)
BACKEND_SRC = $(wildcard mod_ptth_backend/*.c)
HEADERS     = $(wildcard include/*.h mod_ptth_router/*.h mod_ptth_backend/*.h)

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

# apxs puts objects beside their sources; build each module from its own
# copy of the shared sources so the two links never race on one .lo.
# Each .so exports only its module record: the shared code (common/) is
# linked into both, and httpd loads modules RTLD_GLOBAL, so exported
# copies would interpose on each other when one httpd loads both.
$(ROUTER_SO): $(ROUTER_SRC) $(COMMON_SRC) $(HEADERS) build/exports.map
	$(NEED_APXS)
	@mkdir -p build/obj/router
	cp $(COMMON_SRC) build/obj/router/
	$(APXS) -c -o mod_ptth_router/mod_ptth_router.la $(APXSFLAGS) \
	    -I$(CURDIR)/mod_ptth_router $(ROUTER_SRC) \
	    $(addprefix build/obj/router/,$(notdir $(COMMON_SRC))) -lnghttp2 -lssl -lcrypto \
	    -Wl,--version-script=$(CURDIR)/build/exports.map

$(BACKEND_SO): $(BACKEND_SRC) $(COMMON_SRC) $(HEADERS) build/exports.map
	$(NEED_APXS)
	@mkdir -p build/obj/backend
	cp $(COMMON_SRC) build/obj/backend/
	$(APXS) -c -o mod_ptth_backend/mod_ptth_backend.la $(APXSFLAGS) \
	    -I$(CURDIR)/mod_ptth_backend $(BACKEND_SRC) \
	    $(addprefix build/obj/backend/,$(notdir $(COMMON_SRC))) -lnghttp2 -lssl -lcrypto \
	    -Wl,--version-script=$(CURDIR)/build/exports.map

install: all
	$(NEED_APXS)
	$(APXS) -i -n ptth_router mod_ptth_router/mod_ptth_router.la
	$(APXS) -i -n ptth_backend mod_ptth_backend/mod_ptth_backend.la

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
	echo "make deb: dpkg-buildpackage -us -uc -b in $$src"; \
	( cd $$src && dpkg-buildpackage -us -uc -b ) > $(DEB_DIR)/src/build.log 2>&1 || { \
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
