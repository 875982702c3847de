# bootc-testboot: every operation on the image-based OS, from compiling the apps
# to rolling back an EC2 instance. `make` (or `make help`) lists the targets.
#
# Every variable below can be overridden on the command line or from the
# environment, e.g. `make build BASE_IMAGE=quay.io/centos-bootc/centos-bootc:stream10`.
#
# Such a value is data, whatever it contains: make does not expand `$` in it, and
# no recipe pastes it into shell text. Recipes read it from the environment as
# "$$VAR", so a script gets it as one argument (or one environment variable) and
# rejects it with a one-line error when it is not valid. VERIFY_ARGS alone is a
# list: it is split on whitespace, with no quoting, globbing or evaluation.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

# The variables the recipes below hand to scripts (exported further down).
USER_VARS := REGISTRY IMAGE_NAME IMAGE VERSION REVISION SOURCE_DATE_EPOCH SOURCE_URL BASE_IMAGE \
	GO TARGETARCH OUTPUT AWS_REGION AWS_BUCKET AMI_NAME AMI_IMAGE HOST VERIFY_ARGS YES FULL_REBOOT SIGNING_KEY_DIR ROTATE FLEET_TAG FLEET_ASG FLEET_DIGEST FLEET_WAVES FLEET_MAX_ERRORS FLEET_TIMEOUT SSM_DOCUMENT DRY_RUN RUN_PORT RUN_MODE RUN_CMD RESET

# Make reads a command-line or environment value as make syntax: `$(shell ...)` in
# it would run when the value is used or exported. Keep such values literal: every
# command-line variable (the scripts read more than USER_VARS, e.g. EXTRA_TAGS),
# and the environment's values of USER_VARS.
define literal
override $(1) := $$(value $(1))
export $(1)
endef
$(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $v)),$(eval $(call literal,$v))))
$(foreach v,$(USER_VARS),$(if $(filter environment,$(origin $v)),$(eval $(call literal,$v))))

# shq: $(1) as one single-quoted shell word, for the few places make itself runs a shell.
shq = '$(subst ','\'',$(1))'

# --- Image identity ---------------------------------------------------------
REGISTRY    ?= ghcr.io/bootc-testboot
IMAGE_NAME  ?= bootc-testboot
IMAGE       ?= $(REGISTRY)/$(IMAGE_NAME)
# Human version of the OS image: shown by `bootc status` and /api/info.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit time pins every timestamp: same commit, base digest and packages, same digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
SOURCE_URL  ?= https://github.com/bootc-testboot/bootc-testboot
# Empty means: the default pinned in the Containerfile.
BASE_IMAGE  ?=

# --- Go build -----------------------------------------------------------------
GO          ?= go
TARGETARCH  ?= $(shell $(call shq,$(GO)) env GOARCH 2>/dev/null || echo amd64)
OUTPUT      ?= output
# Empty means the default, as in the scripts, not the root directory's /bin.
override OUTPUT := $(or $(OUTPUT),output)

# --- AWS and remote hosts -----------------------------------------------------
AWS_REGION  ?= us-east-1
AWS_BUCKET  ?=
AMI_NAME    ?=
# What AMIs are built from. Instances follow this reference with `bootc upgrade`,
# so it is the moving tag, not a version or a digest.
AMI_IMAGE   ?= $(IMAGE):latest
# user@ip of an instance; empty means "this machine".
HOST        ?=
# Extra flags for verify-instance.sh, e.g. --expect-version 1.4.0 --json. Split on
# whitespace only (bash `read -a`): quotes are not interpreted, so no flag value
# can hold a space, and nothing in it is globbed or evaluated.
VERIFY_ARGS ?=
# 1 answers the confirmation of os-apply and os-rollback; empty or 0 asks.
YES         ?=
# 1 makes os-apply and os-rollback reboot fully even when bootc offers a soft
# reboot (userspace only); empty or 0 lets bootc soft-reboot where it can.
FULL_REBOOT ?=

export $(USER_VARS)

# Every apps/*/main.go is an app: a package of the one module apps/go.mod.
APPS     := $(patsubst apps/%/main.go,%,$(wildcard apps/*/main.go))
APP_TARGETS := $(addprefix app-,$(APPS))
# Go modules that hold tests (the apps with their shared code, integration tests).
GO_MODULES := apps test

# Each app embeds the hash of its own sources as its version, so an app whose
# code did not change is byte-identical in the next image and its layer is reused.
app_sources = $(shell find apps/$(1) apps/internal apps/go.mod apps/go.sum -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -not -name '*_test.go' -not -path 'apps/internal/apptest/*' 2>/dev/null | LC_ALL=C sort)
app_version = $(shell cat $(call app_sources,$(1)) 2>/dev/null | sha256sum | cut -c1-12)

# Runs a script from scripts/ here, or on $HOST over ssh with sudo.
ON_HOST = host=(); [[ -z $$HOST ]] || host=(--host "$$HOST"); scripts/on-host.sh "$${host[@]}"
# Sets the array yes from YES: (--yes) for 1, empty for empty or 0, else an error.
YES_FLAG = case $$YES in \
	  "" | 0) yes=() ;; \
	  1) yes=(--yes) ;; \
	  *) printf 'make: YES must be 1 (or empty to be asked), not %q\n' "$$YES" >&2; exit 2 ;; \
	esac
# Sets the array full from FULL_REBOOT: (--full-reboot) for 1, empty for empty or 0.
FULL_FLAG = case $$FULL_REBOOT in \
	  "" | 0) full=() ;; \
	  1) full=(--full-reboot) ;; \
	  *) printf 'make: FULL_REBOOT must be 1 (or empty for a soft reboot where bootc offers one), not %q\n' "$$FULL_REBOOT" >&2; exit 2 ;; \
	esac

.PHONY: help
help: ## List the targets (default)
	@c=$$([ -t 1 ] && printf '\033[36m' || true); r=$$([ -t 1 ] && printf '\033[0m' || true); \
	awk -v c="$$c" -v r="$$r" 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %s%-12s%s %s\n", c, $$1, r, $$2}' \
		$(foreach f,$(MAKEFILE_LIST),$(call shq,$(f)))
	@echo
	@echo "Variables (override with VAR=value): REGISTRY IMAGE VERSION BASE_IMAGE TARGETARCH"
	@echo "  AWS_REGION AWS_BUCKET AMI_NAME AMI_IMAGE HOST YES FULL_REBOOT VERIFY_ARGS BOOT_BASE_IMAGE CI BENCH_QUICK RUN_PORT RUN_MODE RUN_CMD RESET"
	@echo $(call shq,Apps found under apps/: $(APPS))

# --- Build --------------------------------------------------------------------
.PHONY: apps
apps: $(APP_TARGETS) ## Compile every apps/*/main.go into output/bin/ (static, reproducible)

# One phony target per app: go's own cache decides what to rebuild; make only
# fans out per app. The targets are named after the apps, not after
# $(OUTPUT)/bin/<app>, so OUTPUT never becomes make syntax.
.PHONY: $(APP_TARGETS)
$(APP_TARGETS): app-%:
	@mkdir -p -- "$$OUTPUT/bin"
	out=$$(realpath -ms -- "$$OUTPUT/bin/$*") && cd apps && \
	GOWORK=off CGO_ENABLED=0 GOOS=linux GOARCH="$$TARGETARCH" "$$GO" build -trimpath -buildvcs=false \
		-ldflags '-s -w -buildid= -X main.version=$(call app_version,$*)' -o "$$out" ./$*

.PHONY: build
build: apps ## Build the bootc OS image with podman (make apps + podman build); BASE_IMAGE=standin: offline, on the Debian stand-in
	$(STANDIN_BASE); scripts/build-image.sh

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
	args=(--image "$$AMI_IMAGE" --region "$$AWS_REGION"); \
	[[ -z $$AWS_BUCKET ]] || args+=(--bucket "$$AWS_BUCKET"); \
	[[ -z $$AMI_NAME ]] || args+=(--name "$$AMI_NAME"); \
	scripts/create-ami.sh "$${args[@]}"

.PHONY: qcow2
qcow2: ## Build a local qcow2 disk for VM testing (no AWS)
	scripts/create-ami.sh --type qcow2 --image "$$IMAGE:$$VERSION"

# --- Day-2 operations (here, or on HOST=user@ip) ----------------------------------
.PHONY: verify
verify: ## Post-boot health checks of an instance (VERIFY_ARGS="--expect-digest sha256:...")
	read -r -d '' -a verify_args <<<"$$VERIFY_ARGS" || true; \
	$(ON_HOST) verify-instance.sh "$${verify_args[@]}"

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
os-apply: ## Apply the downloaded update and reboot (asks unless YES=1; FULL_REBOOT=1: no soft reboot)
	$(YES_FLAG); $(FULL_FLAG); $(ON_HOST) upgrade-os.sh apply "$${yes[@]}" "$${full[@]}"

.PHONY: os-rollback
os-rollback: ## Roll back to the previous deployment and reboot (asks unless YES=1; FULL_REBOOT=1: no soft reboot)
	$(YES_FLAG); $(FULL_FLAG); $(ON_HOST) rollback-os.sh "$${yes[@]}" "$${full[@]}"

# --- Image signing ----------------------------------------------------------------
# Where `make signing-keys` writes the private key and its password (outside the
# repository); empty means ~/.config/bootc-testboot/signing.
SIGNING_KEY_DIR ?=
# 1 makes `make signing-keys` add a new key next to the current one (rotation).
ROTATE      ?=

.PHONY: signing-keys
signing-keys: ## Create the cosign key pair publish signs with; public key to keys/ (ROTATE=1 adds a second key)
	case $$ROTATE in \
	  "" | 0) rotate=() ;; \
	  1) rotate=(--rotate) ;; \
	  *) printf 'make: ROTATE must be 1 (or empty), not %q\n' "$$ROTATE" >&2; exit 2 ;; \
	esac; \
	dir=(); [[ -z $$SIGNING_KEY_DIR ]] || dir=(--key-dir "$$SIGNING_KEY_DIR"); \
	scripts/signing-keys.sh "$${dir[@]}" "$${rotate[@]}"

# --- Fleet rollouts through AWS Systems Manager (docs/013-fleet-rollouts.md) ------
# Instances by tag (FLEET_TAG=Env=prod) or Auto Scaling group (FLEET_ASG=web); empty
# values leave the script's defaults (scripts/fleet.sh --help).
FLEET_TAG        ?=
FLEET_ASG        ?=
# The digest to roll out; empty: the one `make push` wrote to $(OUTPUT)/digest.
FLEET_DIGEST     ?=
# Wave sizes (default 1,10%,50%,rest), failures a wave tolerates (default 0), and the
# seconds a wave has to reboot and verify (default 1200).
FLEET_WAVES      ?=
FLEET_MAX_ERRORS ?=
FLEET_TIMEOUT    ?=
# The SSM Command document (default bootc-testboot-os).
SSM_DOCUMENT     ?=
# 1: fleet-upgrade prints the plan and sends nothing.
DRY_RUN          ?=

# Sets the array fleet from the selection and the region, as scripts/fleet.sh flags.
FLEET_SELECT = fleet=(--region "$$AWS_REGION"); \
	[[ -z $$FLEET_TAG ]] || fleet+=(--tag "$$FLEET_TAG"); \
	[[ -z $$FLEET_ASG ]] || fleet+=(--asg "$$FLEET_ASG"); \
	[[ -z $$SSM_DOCUMENT ]] || fleet+=(--document "$$SSM_DOCUMENT")

.PHONY: fleet-upgrade
fleet-upgrade: ## Roll the image out to a fleet through SSM: canary, then waves (FLEET_TAG or FLEET_ASG; DRY_RUN=1, YES=1)
	$(YES_FLAG); $(FLEET_SELECT); \
	case $$DRY_RUN in \
	  "" | 0) ;; \
	  1) fleet+=(--dry-run) ;; \
	  *) printf 'make: DRY_RUN must be 1 (or empty), not %q\n' "$$DRY_RUN" >&2; exit 2 ;; \
	esac; \
	[[ -z $$FLEET_DIGEST ]] || fleet+=(--digest "$$FLEET_DIGEST"); \
	[[ -z $$FLEET_WAVES ]] || fleet+=(--waves "$$FLEET_WAVES"); \
	[[ -z $$FLEET_MAX_ERRORS ]] || fleet+=(--max-errors "$$FLEET_MAX_ERRORS"); \
	[[ -z $$FLEET_TIMEOUT ]] || fleet+=(--timeout "$$FLEET_TIMEOUT"); \
	scripts/fleet.sh upgrade "$${fleet[@]}" "$${yes[@]}"

.PHONY: fleet-status
fleet-status: ## Per instance of a fleet: booted digest and version, staged image, last verify (FLEET_TAG or FLEET_ASG)
	$(FLEET_SELECT); scripts/fleet.sh status "$${fleet[@]}"

.PHONY: ssm-document
ssm-document: ## Create or update the SSM document ssm/bootc-testboot-os.yaml in the account (AWS_REGION)
	fleet=(--region "$$AWS_REGION"); [[ -z $$SSM_DOCUMENT ]] || fleet+=(--document "$$SSM_DOCUMENT"); \
	scripts/fleet.sh document "$${fleet[@]}"

# --- Run the image on this machine (scripts/run-local.sh) ------------------------
# The 127.0.0.1 port make run forwards to the guest's nginx.
RUN_PORT    ?= 8080
# auto or nspawn: a systemd-nspawn container; vm: bcvk ephemeral run-ssh (KVM).
RUN_MODE    ?=
# make run-shell: a command line for the guest's bash instead of a login shell.
RUN_CMD     ?=
# 1: make run starts from a fresh /var and /etc (the first install again).
RESET       ?=

# BASE_IMAGE=standin (make build): the Debian stand-in the tests use, built or
# reused by test/standin/build.sh, which prints its reference. Defined here and
# used in the build recipe above (recipes expand variables when they run).
STANDIN_BASE = if [[ $$BASE_IMAGE == standin ]]; then \
	  echo "make: building on the local Debian stand-in base (no SELinux, no real bootc, Debian packages; for make run and tests)" >&2; \
	  BASE_IMAGE=$$(test/standin/build.sh); export BASE_IMAGE; \
	fi

# Sets the array run to the state directory flag every run target passes.
RUN_DIR = run=(--dir "$$OUTPUT/run")

.PHONY: run
run: ## Boot the built image here under systemd-nspawn and leave it running (RUN_PORT, RESET=1, RUN_MODE=vm)
	$(RUN_DIR); \
	case $$RESET in \
	  "" | 0) ;; \
	  1) run+=(--reset) ;; \
	  *) printf 'make: RESET must be 1 (or empty), not %q\n' "$$RESET" >&2; exit 2 ;; \
	esac; \
	[[ -z $$RUN_PORT ]] || run+=(--port "$$RUN_PORT"); \
	[[ -z $$RUN_MODE ]] || run+=(--mode "$$RUN_MODE"); \
	scripts/run-local.sh start "$${run[@]}" --image "$$IMAGE:$$VERSION"

.PHONY: run-shell
run-shell: ## A root shell in the running image (RUN_CMD="systemctl status" runs one command)
	$(RUN_DIR); [[ -z $$RUN_CMD ]] || run+=(--command "$$RUN_CMD"); \
	scripts/run-local.sh shell "$${run[@]}"

.PHONY: run-upgrade
run-upgrade: ## Reboot the running image into $(IMAGE):$(VERSION) as bootc would: new /etc, same /var
	$(RUN_DIR); scripts/run-local.sh upgrade "$${run[@]}" --image "$$IMAGE:$$VERSION"

.PHONY: run-stop
run-stop: ## Power the running image off cleanly
	$(RUN_DIR); scripts/run-local.sh stop "$${run[@]}"

# --- Housekeeping ---------------------------------------------------------------
.PHONY: clean
clean: ## Remove output/ (powers off a local `make run` guest first)
	if [[ -e $$OUTPUT/run/runtime ]]; then scripts/run-local.sh stop --dir "$$OUTPUT/run"; fi; \
	rm -rf -- "$$OUTPUT"

# --- A real VM (KVM) ----------------------------------------------------------------
.PHONY: vm-test
vm-test: ## Boot the image on the real base as a KVM VM (qcow2) and drive it: upgrade, apply, rollback, unsigned image, automatic rollback (root, /dev/kvm)
	test/lifecycle/vm-test.sh
