#!/usr/bin/env bash
# Pushes the built OS image to its registry under the version tag, "latest" and
# any extra tags, and records the pushed manifest digest in $OUTPUT/digest: what
# cosign signs and what verify-instance.sh --expect-digest checks. AMIs and hosts
# do not follow a digest: they follow the moving tag :latest (AMI_IMAGE in the
# Makefile), which this push moves.
#
# Usage: push-image.sh [OPTIONS]          (normally through `make push`)
#
# Options (build-image.sh takes the same first four, to tag what this pushes):
#   --image NAME          repository to push to, without tag (default $IMAGE)
#   --version TAG         tag of the local image to push (default $VERSION)
#   --tag TAG             also push under TAG; repeatable (default: $EXTRA_TAGS, space-separated)
#   --no-latest           do not move the "latest" tag
#   --digestfile PATH     where to write the digest (default $OUTPUT/digest, OUTPUT=output)
#   --tls-verify=false    plain HTTP / unverified TLS; only for registries on localhost
#                         (also TLS_VERIFY=false)
#   -h, --help            this help
#
# Log in first (podman login REGISTRY). The image is uploaded once; the other tags
# are set to its digest without a second upload. Prints IMAGE@DIGEST as the last line of stdout.
# Exit status: 0 pushed, 1 push failed or local image missing, 2 usage error.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

image=${IMAGE:-}
version=${VERSION:-}
read -r -a tags <<<"${EXTRA_TAGS:-}"
latest=true
tls_verify=${TLS_VERIFY:-true}
output=${OUTPUT:-output}
digestfile=""

while (($#)); do
  case $1 in
    -h | --help) usage ;;
    --image) need_value "$@"; image=$2; shift ;;
    --version) need_value "$@"; version=$2; shift ;;
    --tag) need_value "$@"; tags+=("$2"); shift ;;
    --no-latest) latest=false ;;
    --digestfile) need_value "$@"; digestfile=$2; shift ;;
    --tls-verify=*) tls_verify=${1#*=} ;;
    *) bad_arg "$1" ;;
  esac
  shift
done
digestfile=${digestfile:-$output/digest}

# --- Validate everything before touching the registry -------------------------
check_image_args "$image" "$version" "${tags[@]}"
case $tls_verify in
  true) ;;
  false)
    is_local_registry "${image%%/*}" ||
      usage_error "--tls-verify=false is only allowed for a registry on localhost, not '${image%%/*}'"
    ;;
  *) usage_error "--tls-verify must be true or false, got '$tls_verify'" ;;
esac

require_cmd podman "apt-get install podman"
require_cmd skopeo "apt-get install skopeo"
src="$image:$version"
podman image exists "$src" || die "local image '$src' not found (run 'make build' first)"
# An image built on the local Debian stand-in (make build BASE_IMAGE=standin) has no
# bootc and no real kernel: hosts that took it as an update would not boot it. It may
# go to a registry on this machine (tests, make run), never to a real one.
base=$(podman image inspect --format '{{ index .Labels "org.opencontainers.image.base.name" }}' "$src" 2>/dev/null || true)
if [[ $base == localhost/bootc-testboot-standin:* ]] && ! is_local_registry "${image%%/*}"; then
  die "$src is built on the local Debian stand-in ($base), not a bootc base: refusing to push it to ${image%%/*} (rebuild with the real BASE_IMAGE)"
fi

# --- Push ------------------------------------------------------------------------
# The version tag first, then the others; duplicates are pushed once.
mapfile -t push_tags < <(image_tags "$version" "$latest" "${tags[@]}")

mkdir -p "$(dirname "$digestfile")" || die "cannot create the directory of $digestfile"
temp_dir "${TMPDIR:-/tmp}"

# One upload, under the version tag; every other tag is then pointed at that
# digest by copying the manifest as it is (skopeo --preserve-digests; the layers
# are already there, so containers/image's docker destination reuses them:
# docker/docker_image_dest.go, TryReusingBlobWithOptions). A second podman push
# could give another digest: podman drops layer annotations on a first push
# (containers/podman#27796, containers/container-libs#1129).
log "pushing $src to $image:$version"
podman push --quiet --tls-verify="$tls_verify" --digestfile "$tmp/digest" \
  "$src" "docker://$image:$version" >&2 || die "push of $image:$version failed (logged in to ${image%%/*}?)"
digest=$(<"$tmp/digest")
is_digest "$digest" || die "podman reported no digest for $image:$version"
for t in "${push_tags[@]:1}"; do
  log "tagging $image@$digest as $image:$t"
  skopeo copy --quiet --preserve-digests --src-tls-verify="$tls_verify" --dest-tls-verify="$tls_verify" \
    "docker://$image@$digest" "docker://$image:$t" >&2 || die "tagging $image@$digest as $image:$t failed"
done

printf '%s\n' "$digest" >"$digestfile.tmp"
mv -f "$digestfile.tmp" "$digestfile"
log "pushed ${push_tags[*]} as $digest (written to $digestfile)"
printf '%s@%s\n' "$image" "$digest"
