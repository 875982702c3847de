# bootc-testboot: every operation on the image-based OS, from compiling the apps
# to rolling back an EC2 instance. `make` (or `make help`) lists the targets.
#
# Every variable below can be overridden on the command line or from the
# environment, e.g. `make build BASE_IMAGE=quay.io/centos-bootc/centos-bootc:stream10`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

# --- Image identity ---------------------------------------------------------
REGISTRY    ?= ghcr.io/bootc-testboot
IMAGE_NAME  ?= bootc-testboot
IMAGE       ?= $(REGISTRY)/$(IMAGE_NAME)
# Human version of the OS image: shown by `bootc status` and /api/info.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit time pins every timestamp in the build, so one commit gives one digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
SOURCE_URL  ?= https://github.com/bootc-testboot/bootc-testboot
# Empty means: the default pinned in the Containerfile.
BASE_IMAGE  ?=

# --- Go build -----------------------------------------------------------------
GO          ?= go
TARGETARCH  ?= $(shell $(GO) env GOARCH 2>/dev/null || echo amd64)
OUTPUT      ?= output
BIN_DIR     := $(OUTPUT)/bin

# --- AWS and remote hosts -----------------------------------------------------
AWS_REGION  ?= us-east-1
AWS_BUCKET  ?=
AMI_NAME    ?=
# What AMIs are built from. Instances follow this reference with `bootc upgrade`,
# so it is the moving tag, not a version or a digest.
AMI_IMAGE   ?= $(IMAGE):latest
# user@ip of an instance; empty means "this machine".
HOST        ?=
# Extra flags for verify-instance.sh, e.g. --expect-version 1.4.0 --json
VERIFY_ARGS ?=

export VERSION REVISION SOURCE_DATE_EPOCH IMAGE BASE_IMAGE SOURCE_URL TARGETARCH OUTPUT

# Every directory under apps/ with a main.go is an app; nothing else to edit.
APPS     := $(patsubst apps/%/main.go,%,$(wildcard apps/*/main.go))
APP_BINS := $(addprefix $(BIN_DIR)/,$(APPS))
# Go modules that hold tests (apps, shared code, integration tests).
GO_MODULES := $(patsubst %/go.mod,%,$(wildcard apps/*/go.mod)) test

# Each app embeds the hash of its own sources as its version, so an app whose
# code did not change is byte-identical in the next image and its layer is reused.
app_sources = $(shell find apps/$(1) apps/internal -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -not -name '*_test.go' -not -path 'apps/internal/apptest/*' 2>/dev/null | LC_ALL=C sort)
app_version = $(shell cat $(call app_sources,$(1)) 2>/dev/null | sha256sum | cut -c1-12)

# Runs a script from scripts/ here, or on $(HOST) over ssh with sudo.
ON_HOST = scripts/on-host.sh $(if $(HOST),--host '$(HOST)')

.PHONY: help
help: ## List the targets (default)
	@c=$$([ -t 1 ] && printf '\033[36m' || true); r=$$([ -t 1 ] && printf '\033[0m' || true); \
	awk -v c="$$c" -v r="$$r" 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %s%-12s%s %s\n", c, $$1, r, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables (override with VAR=value): REGISTRY IMAGE VERSION BASE_IMAGE TARGETARCH"
	@echo "  AWS_REGION AWS_BUCKET AMI_NAME AMI_IMAGE HOST YES VERIFY_ARGS BOOT_BASE_IMAGE CI BENCH_QUICK"
	@echo "Apps found under apps/: $(APPS)"

# --- Build --------------------------------------------------------------------
.PHONY: apps
apps: $(APP_BINS) ## Compile every apps/*/main.go into output/bin/ (static, reproducible)

# FORCE: go's own cache decides what to rebuild; make only fans out per app.
$(BIN_DIR)/%: FORCE
	@mkdir -p $(BIN_DIR)
	cd apps/$* && GOWORK=off CGO_ENABLED=0 GOOS=linux GOARCH=$(TARGETARCH) $(GO) build -trimpath -buildvcs=false \
		-ldflags '-s -w -buildid= -X main.version=$(call app_version,$*)' -o $(abspath $@) .

.PHONY: FORCE
FORCE:

.PHONY: build
build: apps ## Build the bootc OS image with podman (make apps + podman build)
	scripts/build-image.sh

.PHONY: push
push: ## Push $(IMAGE):$(VERSION) and :latest; writes the digest to output/digest
	scripts/push-image.sh

# --- Test ---------------------------------------------------------------------
.PHONY: test
test: ## Run every test suite (strict under CI=true); prints a summary
	test/run-suites.sh

.PHONY: lint
lint: ## gofmt, go vet, shellcheck and actionlint
	test/run-suites.sh gofmt vet shellcheck actionlint

.PHONY: boot-test
boot-test: ## Boot the built image under systemd-nspawn: upgrade, rollback, bad image
	test/run-suites.sh boot

.PHONY: bench
bench: ## Benchmarks: upgrade size, reproducibility, serving, footprint, boot (BENCH_QUICK=1 for a smoke run)
	test/bench/run.sh

# --- AMI ----------------------------------------------------------------------
.PHONY: ami
ami: ## Build an AMI with bootc-image-builder and upload it (AWS_BUCKET, AMI_NAME, AMI_IMAGE)
	scripts/create-ami.sh --image '$(AMI_IMAGE)' --region '$(AWS_REGION)' \
		$(if $(AWS_BUCKET),--bucket '$(AWS_BUCKET)') $(if $(AMI_NAME),--name '$(AMI_NAME)')

.PHONY: qcow2
qcow2: ## Build a local qcow2 disk for VM testing (no AWS)
	scripts/create-ami.sh --type qcow2 --image '$(IMAGE):$(VERSION)'

# --- Day-2 operations (here, or on HOST=user@ip) ----------------------------------
.PHONY: verify
verify: ## Post-boot health checks of an instance (VERIFY_ARGS="--expect-digest sha256:...")
	$(ON_HOST) verify-instance.sh $(VERIFY_ARGS)

.PHONY: os-status
os-status: ## Show booted, staged and rollback deployments
	$(ON_HOST) upgrade-os.sh status

.PHONY: os-check
os-check: ## Check the registry for a newer image (exit 10 when one is available)
	$(ON_HOST) upgrade-os.sh check

.PHONY: os-upgrade
os-upgrade: ## Download and stage the update without applying it
	$(ON_HOST) upgrade-os.sh download

.PHONY: os-apply
os-apply: ## Apply the downloaded update and reboot (asks unless YES=1)
	$(ON_HOST) upgrade-os.sh apply $(if $(YES),--yes)

.PHONY: os-rollback
os-rollback: ## Roll back to the previous deployment and reboot (asks unless YES=1)
	$(ON_HOST) rollback-os.sh $(if $(YES),--yes)

# --- Housekeeping ---------------------------------------------------------------
.PHONY: clean
clean: ## Remove output/
	rm -rf $(OUTPUT)
