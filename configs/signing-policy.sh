#!/usr/bin/env bash
# Renders the host's image signature policy at image build time (a RUN step of
# the Containerfile; installed as /usr/libexec/bootc-testboot/signing-policy).
#
# Usage: signing-policy.sh IMAGE
#   IMAGE  the repository the image is published to (REGISTRY/PATH, the
#          Makefile's IMAGE): the one repository whose images need our signature.
#
# Reads the public keys in /etc/pki/containers/bootc-testboot/*.pub (copied
# from keys/) and writes:
#   /etc/containers/policy.json
#       images from IMAGE must carry a sigstore signature made with one of those
#       keys; everything else keeps what the base's policy said, written out per
#       transport; any other transport is rejected.
#   /etc/containers/registries.d/bootc-testboot.yaml
#       look for IMAGE's signatures as sigstore attachments (sha256-<digest>.sig).
#   /usr/share/bootc-testboot/signing.json
#       {repository, keys}: what the enforcement unit and verify-instance.sh read.
#   /usr/lib/bootc/install/10-bootc-testboot-sigpolicy.toml
#       `bootc install` (and so bootc-image-builder) writes an enforcing origin.
# TESTBOOT_ROOT prefixes every path (tests).
set -euo pipefail

root=${TESTBOOT_ROOT:-}
prog=${0##*/}
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
[[ $# -eq 1 ]] || die "usage: $prog IMAGE"
image=$1
# REGISTRY[:PORT]/PATH in lower case, no tag or digest (scripts/lib/common.sh is_repo_name).
[[ $image =~ ^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+$ ]] ||
  die "IMAGE '$image' is not a repository name (REGISTRY/PATH, lower case, no tag or digest)"
command -v jq >/dev/null || die "jq is needed"

keydir=/etc/pki/containers/bootc-testboot
policy=/etc/containers/policy.json
regd=/etc/containers/registries.d/bootc-testboot.yaml
info=/usr/share/bootc-testboot/signing.json

shopt -s nullglob
files=("$root$keydir"/*)
shopt -u nullglob
keys=()
for f in "${files[@]}"; do
  [[ $f == *.pub && -f $f ]] || die "${f#"$root"} is not a public key file (*.pub): keys/ holds only public keys"
  # cosign's public keys are PEM "PUBLIC KEY" blocks (PKIX); containers/image
  # parses each with sigstore's cryptoutils.UnmarshalPEMToPublicKey
  # (signature/policy_eval_sigstore.go prSigstoreSigned.prepareTrustRoot).
  if [[ $(head -n1 "$f") != '-----BEGIN PUBLIC KEY-----' ]] || ! grep -qx -- '-----END PUBLIC KEY-----' "$f"; then
    die "${f#"$root"} is not a PEM public key (cosign generate-key-pair writes one)"
  fi
  chmod 0644 "$f"
  keys+=("${f#"$root"}")
done
((${#keys[@]})) || die "no public key in keys/: run 'make signing-keys' (see docs/006-secrets-management.md)"
chmod 0755 "$root$keydir"

base='{}'
if [[ -f $root$policy ]]; then
  base=$(jq -c . "$root$policy") || die "the base image's $policy is not valid JSON"
fi
mkdir -p "$root${policy%/*}"
keys_json=$(printf '%s\n' "${keys[@]}" | jq -R . | jq -cs .)

# containers/image picks the requirements of the most specific scope: the
# repository's own entry in transports.docker, else the transport's "" entry,
# else default (signature/policy_eval.go PolicyContext.requirementsForImageRef).
#  - IMAGE: a sigstore signature by any of the keys (keyPaths: containers/image
#    >= v5.33.0, signature/policy_config_sigstore.go PRSigstoreSignedWithKeyPaths;
#    one accepted signature is enough: policy_eval_sigstore.go
#    prSigstoreSigned.isRunningImageAllowed). matchRepository: cosign signs
#    REPO@DIGEST and records the repository without a tag, so the exact-tag
#    default (matchRepoDigestOrExact) would refuse ghcr.io/...:latest.
#  - default: reject. bootc refuses to enforce a policy whose default is
#    insecureAcceptAnything (bootc-dev/bootc crates/ostree-ext/src/container/store.rs
#    prepare_internal, skopeo.rs ContainerPolicy::is_default_insecure).
#  - every other registry image and every local transport: what the base's
#    default said (insecureAcceptAnything on Fedora), now per transport, so
#    podman pulls and the base's own images keep working. Entries the base
#    already has (e.g. signedBy for Red Hat registries) are kept.
jq -n --argjson base "$base" --arg repo "$image" --argjson keys "$keys_json" '
  ($base.default // [{type: "insecureAcceptAnything"}]) as $others
  | $base
  | .default = [{type: "reject"}]
  | .transports = (.transports // {})
  | reduce ("docker", "docker-daemon", "docker-archive", "containers-storage", "dir",
            "oci", "oci-archive", "sif", "tarball") as $t
      (.; .transports[$t][""] = (.transports[$t][""] // $others))
  | .transports.docker[$repo] = [{
      type: "sigstoreSigned",
      keyPaths: $keys,
      signedIdentity: {type: "matchRepository"}
    }]' >"$root$policy.new" || die "cannot render $policy"
mv -f "$root$policy.new" "$root$policy"
chmod 0644 "$root$policy"

# registries.d: containers/image fetches sigstore signatures only for scopes
# with use-sigstore-attachments (docker/registries_d.go
# registryConfiguration.useSigstoreAttachments), looking up the repository
# scope before its namespaces and host.
mkdir -p "$root${regd%/*}"
cat >"$root$regd" <<EOF
# Generated at image build by /usr/libexec/bootc-testboot/signing-policy.
# cosign stores its signatures as sha256-<digest>.sig next to the image.
docker:
  $image:
    use-sigstore-attachments: true
EOF
chmod 0644 "$root$regd"

mkdir -p "$root${info%/*}"
jq -n --arg repo "$image" --argjson keys "$keys_json" \
  '{repository: $repo, keys: $keys, policy: "/etc/containers/policy.json"}' >"$root$info"
chmod 0644 "$root$info"
# bootc install reads [install] enforce-container-sigpolicy from
# /usr/lib/bootc/install/*.toml of the image it installs (bootc-dev/bootc
# crates/lib/src/install.rs prepare_install, install/config.rs load_config;
# bootc >= 1.15.2, commit 1535ded7). bootc-image-builder runs the image's own
# `bootc install to-filesystem`, so hosts it builds start with an origin that
# enforces the policy. Older bootc refuses the unknown key (InstallConfiguration
# is deny_unknown_fields), so the file is left out when the base's bootc
# package is known to be older; the enforcement unit covers those hosts.
installcfg=/usr/lib/bootc/install/10-bootc-testboot-sigpolicy.toml
bootc_rpm=$(rpm -q --qf '%{VERSION}' bootc 2>/dev/null) || bootc_rpm=""
if [[ $bootc_rpm =~ ^[0-9]+\.[0-9]+\.[0-9]+ && $(printf '%s\n' 1.15.2 "${BASH_REMATCH[0]}" | sort -V | head -n1) != 1.15.2 ]]; then
  echo "$prog: bootc $bootc_rpm predates install.enforce-container-sigpolicy (1.15.2): not writing ${installcfg}; bootc-testboot-sigpolicy.service switches hosts to enforcement"
else
  mkdir -p "$root${installcfg%/*}"
  cat >"$root$installcfg" <<EOF
# Generated at image build by /usr/libexec/bootc-testboot/signing-policy.
# Installed hosts pull this image's updates only with a signature that
# /etc/containers/policy.json accepts (bootc install --enforce-container-sigpolicy).
[install]
enforce-container-sigpolicy = true
EOF
  chmod 0644 "$root$installcfg"
fi

echo "$prog: $image requires a signature by one of: ${keys[*]}"
