# shellcheck shell=bash
# A second backend for test/doubles/lib/registry.sh: the same functions, answered by a
# real registry through skopeo instead of the files under $DOUBLES_STATE/registry. Source
# it AFTER registry.sh, which does so when DOUBLES_REGISTRY=skopeo (it replaces some of
# its functions and keeps reg_name and reg_tag). Used by the simulated host (test/simhost), where test/doubles/bin/bootc runs
# inside a booted guest and pulls from a docker-registry on the test machine.
#
# Manifests and configs are kept by the sha256 of their bytes in
# $DOUBLES_STATE/registry/blobs, as in the file backend, so every digest reported is
# the digest of bytes the registry served. `skopeo inspect --raw` and
# `skopeo inspect --config --raw` print those bytes unchanged (containers/skopeo
# cmd/skopeo/inspect.go `inspectOptions.run`).
#
# Pulling: with DOUBLES_SIM_PULL=1 (the guest's bootc wrapper sets it for the commands
# that pull: upgrade without --check or --from-downloaded, switch), reg_image_status
# first copies the image, layers included, into the OCI layout $DOUBLES_SIM_STORE
# (tag: the manifest digest's hex). Layers already there are not fetched again, as
# ostree-ext imports only the layers its repository lacks
# (crates/ostree-ext/src/container/store.rs `ImageImporter::prepare_internal`, which
# splits layers into those present and those to fetch). A failed pull fails the command
# before anything is staged.
#
# Signatures: with DOUBLES_SIM_EVALUATOR (the guest's bootc wrapper sets it to
# test/signing/cmd/evaluate-policy, containers/image's own policy evaluation built
# static), reg_policy_refusal judges the image bootc is about to open by the host's
# /etc/containers/policy.json and registries.d, as bootc's image proxy does; the bootc
# double calls it in fetch_manifest. The pull itself (sim_pull) then needs no policy.
#
# Every skopeo call is bounded by $DOUBLES_SIM_TIMEOUT seconds (default 300).

sim_blobs() { printf '%s/registry/blobs' "${DOUBLES_STATE:-/nonexistent}"; }

sim_skopeo() { timeout --kill-after=5 "${DOUBLES_SIM_TIMEOUT:-300}" skopeo "$@"; }

# sim_err FILE: skopeo's error without logrus' decoration (time="..." level=fatal msg="...").
sim_err() {
  local l
  l=$(grep -v '^[[:space:]]*$' "$1" | tail -n1)
  l=${l#*msg=\"}
  l=${l%\"}
  printf '%s' "${l:-skopeo failed}"
}

# sim_keep FILE: store FILE's bytes by their sha256 and print sha256:<hex>.
sim_keep() {
  local d
  d=sha256:$(sha256sum "$1" | cut -c1-64)
  mv -f "$1" "$(sim_blobs)/${d#sha256:}"
  printf '%s' "$d"
}

# sim_fetch NAME@DIGEST|NAME:TAG [--config]: fetch a manifest (or the config of one),
# keep it, print its digest.
sim_fetch() {
  local tmp d
  mkdir -p "$(sim_blobs)"
  tmp=$(mktemp "$(sim_blobs)/.fetch.XXXXXX")
  if ! sim_skopeo inspect --raw ${2:+"$2"} --no-creds "docker://$1" >"$tmp" 2>"$tmp.err"; then
    sim_err "$tmp.err" >&2
    echo >&2
    rm -f "$tmp" "$tmp.err"
    return 1
  fi
  rm -f "$tmp.err"
  d=$(sim_keep "$tmp")
  printf '%s' "$d"
}

# sim_with_config NAME DIGEST: a plain image manifest brings its config along, checked
# against the digest the manifest names.
sim_with_config() {
  local file want got
  file=$(sim_blobs)/${2#sha256:}
  want=$(jq -r '.config.digest // empty' "$file" 2>/dev/null) || return 0
  [[ -n $want && ! -f $(sim_blobs)/${want#sha256:} ]] || return 0
  got=$(sim_fetch "$1@$2" --config) || return 1
  if [[ $got != "$want" ]]; then
    printf 'the configuration of %s@%s has digest %s, not %s\n' "$1" "$2" "$got" "$want" >&2
    return 1
  fi
}

# reg_unreachable: the error of the registry's ping (the first request containers/image
# makes, GET /v2/), or nothing (status 1) when it answers.
reg_unreachable() {
  local ref host err
  ref=$(jq -r '.spec.image.image // .status.booted.image.image.image // empty' \
    "${DOUBLES_STATE:-/nonexistent}/bootc/status.json" 2>/dev/null) || true
  [[ -n $ref ]] || return 1
  host=${ref%%/*}
  err=$(curl -sS --max-time 10 -o /dev/null "http://$host/v2/" 2>&1) && return 1
  printf 'pinging container registry %s: %s' "$host" "${err#curl: }"
}

# reg_top_digest REF: what REF resolves to in the registry now (fetched, kept).
reg_top_digest() {
  local name d
  name=$(reg_name "$1")
  mkdir -p "$(sim_blobs)"
  printf '%s' "$name" >"$(sim_blobs)/../name"
  if [[ $1 == *@sha256:* ]]; then
    d=${1##*@}
    [[ -f $(sim_blobs)/${d#sha256:} ]] || d=$(sim_fetch "$name@$d") || return 1
  else
    d=$(sim_fetch "$name:$(reg_tag "$1")") || return 1
  fi
  sim_with_config "$name" "$d" || return 1
  printf '%s' "$d"
}

# reg_blob DIGEST: a kept manifest or config; a per-platform manifest of an index is
# fetched from the repository last resolved.
reg_blob() {
  local f name
  f=$(sim_blobs)/${1#sha256:}
  if [[ ! -f $f ]]; then
    name=$(cat "$(sim_blobs)/../name" 2>/dev/null) || return 1
    sim_fetch "$name@$1" >/dev/null || return 1
    sim_with_config "$name" "$1" || return 1
  fi
  cat "$f"
}

# The file backend's reg_image_status, kept to be called after the pull.
eval "sim_files_$(declare -f reg_image_status)"

# sim_pull NAME DIGEST: the image with its layers into the OCI layout store.
sim_pull() {
  local store=${DOUBLES_SIM_STORE:?} tmp
  mkdir -p "$store"
  # What a pull cut short (a power loss) left behind; ostree drops its partial
  # objects the same way on the next pull. The sysroot lock is held here.
  rm -f "$store"/oci-put-blob*
  tmp=$(mktemp)
  # The policy was applied when bootc opened the image (reg_policy_refusal); ostree keeps
  # no signatures, and an OCI layout cannot take the sigstore attachments the host's
  # registries.d makes skopeo read (containers/image oci/layout: "Pushing signatures for
  # OCI images is not supported").
  if ! sim_skopeo --insecure-policy copy --quiet --preserve-digests --remove-signatures --src-no-creds \
    "docker://$1@$2" "oci:$store:${2#sha256:}" >/dev/null 2>"$tmp"; then
    printf 'error: Pulling %s@%s: %s\n' "$1" "$2" "$(sim_err "$tmp")" >&2
    rm -f "$tmp"
    return 1
  fi
  rm -f "$tmp"
}

reg_image_status() {
  if [[ ${DOUBLES_SIM_PULL:-0} == 1 ]]; then
    sim_pull "$(reg_name "$1")" "$2" || return 1
  fi
  sim_files_reg_image_status "$@"
}

# reg_policy_refusal NAME@DIGEST SIGNATURE: why bootc would not open the image under
# the host's signature policy, or nothing (status 1) when it would. SIGNATURE is the
# origin's spec.image.signature ("containerPolicy" when it enforces).
#  - bootc-dev/bootc crates/ostree-ext/src/container/store.rs
#    `ImageImporter::prepare_internal`: an enforcing origin refuses a policy whose
#    default is a lone insecureAcceptAnything (skopeo.rs `ContainerPolicy::is_default_insecure`)
#    before any registry access.
#  - Then `proxy.open_image`, for either signature setting: bootc never passes
#    --insecure-policy to its proxy (ImageProxyConfig.insecure_policy stays unset), so
#    skopeo's experimental-image-proxy `OpenImage` (containers/skopeo
#    cmd/skopeo/proxy.go `openImageImpl`) runs containers/image's
#    `PolicyContext.IsRunningImageAllowed` against /etc/containers/policy.json and
#    returns its error unwrapped (signature/policy_eval*.go, e.g. "A signature was
#    required, but no signature exists"); containers-image-proxy-rs reports a failed
#    reply as "failed to invoke method OpenImage: <error>" (src/imageproxy.rs
#    `Error::RequestInitiationFailure`). `skopeo copy` and podman add "Source image
#    rejected: " (containers/image copy/single.go); the proxy does not.
# Evaluated by digest, the manifest the pull then copies; a multi-arch index is judged
# at its top level only (the proxy also accepts it when only the per-platform manifest
# is signed).
reg_policy_refusal() {
  local out
  [[ -n ${DOUBLES_SIM_EVALUATOR:-} ]] || return 1
  if [[ $2 == containerPolicy ]] &&
    jq -e '(.default | type) == "array" and (.default | length) == 1 and .default[0].type == "insecureAcceptAnything"' \
      /etc/containers/policy.json >/dev/null 2>&1; then
    # shellcheck disable=SC2016 # bootc's message quotes with backticks
    printf 'containers-policy.json specifies a default of `insecureAcceptAnything`; refusing usage'
    return 0
  fi
  if out=$(timeout --kill-after=5 "${DOUBLES_SIM_TIMEOUT:-300}" "$DOUBLES_SIM_EVALUATOR" / "$1" 2>&1); then
    return 1
  fi
  printf 'failed to invoke method OpenImage: %s' "$(tail -n1 <<<"${out:-the signature policy evaluation failed}")"
}
