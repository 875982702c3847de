#!/usr/bin/env bash
# Builds the bootc OS image from the Containerfile with podman, reproducibly:
# the same commit gives the same image digest, and an app whose binary did not
# change keeps its layer, so hosts download only what changed.
#
# Usage: build-image.sh [OPTIONS]          (normally through `make build`,
#                                           which first runs `make apps`)
#
# Options (the same as push-image.sh's, which pushes what this tags):
#   --image NAME    repository to tag, without tag (default $IMAGE)
#   --version TAG   image version: tag, OCI version label, `bootc status`
#                   (default $VERSION)
#   --tag TAG       also tag the image TAG; repeatable (default: $EXTRA_TAGS,
#                   space-separated)
#   --no-latest     do not tag the image "latest"
#   --no-cache      build every layer again instead of reusing cached ones
#                   (also NO_CACHE=1)
#   --rootless-ok   allow a build as a non-root user (also ROOTLESS_OK=1); the
#                   image then lands in that user's storage, which
#                   bootc-image-builder (make ami) cannot see
#   -h, --help      this help
#
# Environment (exported by the Makefile):
#   IMAGE, VERSION     defaults of --image and --version
#                      (e.g. ghcr.io/org/bootc-testboot and v1.2.3)
#   REVISION           git commit
#   SOURCE_DATE_EPOCH  commit time in seconds: the image's "created" label and build-info
#   SOURCE_URL         source repository URL
#   BASE_IMAGE         base image; empty means the default pinned in the Containerfile
#   OUTPUT             build output directory holding bin/<app> (default output)
#   TARGETARCH         architecture of the binaries and so of the image (amd64, arm64)
#   SIGNED_REPO        repository whose updates hosts accept only with our signature
#                      (/etc/containers/policy.json in the image); default IMAGE, the
#                      repository the image is pushed to. Part of the image's content.
#
# Tags IMAGE:VERSION, IMAGE:latest and IMAGE:TAG for each --tag and prints
# IMAGE:VERSION on stdout.
# Exit status: 0 built, 1 build failed or a prerequisite is missing, 2 usage error.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

image=${IMAGE:-}
version=${VERSION:-}
read -r -a tags <<<"${EXTRA_TAGS:-}"
latest=true
no_cache=false
[[ ${NO_CACHE:-0} == 1 ]] && no_cache=true
rootless_ok=${ROOTLESS_OK:-0}
while (($#)); do
  case $1 in
    -h | --help) usage ;;
    --image) need_value "$@"; image=$2; shift ;;
    --version) need_value "$@"; version=$2; shift ;;
    --tag) need_value "$@"; tags+=("$2"); shift ;;
    --no-latest) latest=false ;;
    --no-cache) no_cache=true ;;
    --rootless-ok) rootless_ok=1 ;;
    *) bad_arg "$1" ;;
  esac
  shift
done

revision=${REVISION:-}
epoch=${SOURCE_DATE_EPOCH:-}
source_url=${SOURCE_URL:-}
base_image=${BASE_IMAGE:-}
output=${OUTPUT:-output}
signed_repo=${SIGNED_REPO:-$image}

# --- Validate everything before touching anything --------------------------------
check_image_args "$image" "$version" "${tags[@]}"
is_repo_name "$signed_repo" ||
  usage_error "SIGNED_REPO '$signed_repo' is not a repository name (REGISTRY/PATH, lowercase, no tag or digest)"
[[ -n $revision ]] || usage_error "REVISION is not set (run through 'make build')"
is_uint "$epoch" || usage_error "SOURCE_DATE_EPOCH '$epoch' is not a number of seconds"
[[ -n $source_url ]] || usage_error "SOURCE_URL is not set (run through 'make build')"
[[ -z $base_image || $base_image =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]] ||
  usage_error "BASE_IMAGE '$base_image' is not an image reference"
[[ -z ${TARGETARCH:-} || $TARGETARCH =~ ^[a-z0-9]+$ ]] ||
  usage_error "TARGETARCH '$TARGETARCH' is not an architecture (amd64, arm64)"

require_cmd podman "apt-get install podman / dnf install podman"
if [[ $(id -u) -ne 0 && $rootless_ok != 1 ]]; then
  die "run as root (sudo make build): bootc-image-builder reads root's image storage and cannot see a rootless build; ROOTLESS_OK=1 or --rootless-ok builds a local-only image anyway"
fi

cd "$ROOT"
[[ -f Containerfile ]] || die "no Containerfile in $ROOT"
# Every app must be compiled first; the Containerfile copies output/bin/<app>.
for main in apps/*/main.go; do
  [[ -e $main ]] || continue
  app=${main#apps/}
  app=${app%/main.go}
  [[ -x $output/bin/$app ]] || die "$output/bin/$app is missing: run 'make apps' first (make build does)"
done

created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

# --timestamp: podman stamps every file in the layers it builds, and the image
# config, with this time. It is a constant, not the commit time, so a layer's
# bytes depend only on its content: an unchanged app keeps its layer digest
# across commits and hosts do not download it again. (bootc hosts never see
# these mtimes: ostree stores files with mtime 0.) The commit time is recorded
# in the org.opencontainers.image.created label, which `bootc status` shows.
# --identity-label=false: no io.buildah.version label, so the digest does not
# depend on which podman built the image.
# --isolation=chroot: RUN steps work inside CI containers and unprivileged VMs
# where podman cannot create OCI runtime namespaces; all RUN steps are ours.
args=(
  build
  --file Containerfile
  --isolation=chroot
  --identity-label=false
  --timestamp 0
  --build-arg "VERSION=$version"
  --build-arg "REVISION=$revision"
  --build-arg "CREATED=$created"
  --build-arg "SOURCE=$source_url"
  # The repository the image's signature policy protects (configs/signing-policy.sh).
  --build-arg "IMAGE=$signed_repo"
)
while IFS= read -r t; do args+=(--tag "$image:$t"); done < <(image_tags "$version" "$latest" "${tags[@]}")
[[ -n $base_image ]] && args+=(--build-arg "BASE_IMAGE=$base_image")
# The binaries in output/bin are built for TARGETARCH: the base must match, or an
# arm64 (Graviton) image would carry amd64 binaries. Cross-arch RUN steps need
# qemu-user-static on the build machine.
[[ -z ${TARGETARCH:-} ]] || args+=(--platform "linux/$TARGETARCH")
$no_cache && args+=(--no-cache)

log "building $image:$version (created $created${base_image:+, base $base_image})"
# podman's progress goes to stderr; stdout carries only the result.
podman "${args[@]}" . >&2 || die "podman build failed for $image:$version (see the output above)"
id=$(podman image inspect --format '{{.Id}}' "$image:$version")
log "built $image:$version (image ID sha256:$id)"
printf '%s:%s\n' "$image" "$version"
