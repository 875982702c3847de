#!/usr/bin/env bash
# Creates the cosign key pair that signs the published OS image (normally
# through `make signing-keys`). The public key goes to keys/, which the image
# build copies to /etc/pki/containers/bootc-testboot/ and lists in the hosts'
# /etc/containers/policy.json: commit it. The private key and its password stay
# outside the repository, for the two repository secrets the publish workflow
# signs with (COSIGN_PRIVATE_KEY, COSIGN_PASSWORD).
#
# Usage: signing-keys.sh [OPTIONS]
#
# Options:
#   --key-dir DIR   where the private key and its password are written
#                   (default $SIGNING_KEY_DIR, else ~/.config/bootc-testboot/signing);
#                   must be outside the repository
#   --rotate        add a second key next to the existing one(s) instead of
#                   creating the first: images then accept either key (see
#                   docs/006-secrets-management.md, "Rotating the signing key")
#   -h, --help      this help
#
# Needs cosign (https://docs.sigstore.dev/cosign/system_config/installation/,
# or `go install github.com/sigstore/cosign/v2/cmd/cosign@v2.4.1`).
# Exit status: 0 created, 1 failure (nothing is overwritten), 2 usage error.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
keys_dir=$ROOT/keys
key_dir=${SIGNING_KEY_DIR:-}
rotate=false

while (($#)); do
  case $1 in
    -h | --help) usage ;;
    --key-dir) need_value "$@"; key_dir=$2; shift ;;
    --rotate) rotate=true ;;
    *) bad_arg "$1" ;;
  esac
  shift
done

if [[ -z $key_dir ]]; then
  [[ -n ${HOME:-} ]] || usage_error "HOME is not set: pass --key-dir or set SIGNING_KEY_DIR"
  key_dir=$HOME/.config/bootc-testboot/signing
fi
[[ $key_dir != *$'\n'* ]] || usage_error "--key-dir must not contain a newline"
key_dir=$(realpath -m -- "$key_dir")
# A private key inside the checkout is one `git add -A` away from being published.
case $key_dir/ in
  "$ROOT"/*) usage_error "--key-dir '$key_dir' is inside the repository: keep the private key outside it" ;;
esac

shopt -s nullglob
existing=("$keys_dir"/*.pub)
shopt -u nullglob
if $rotate; then
  ((${#existing[@]})) || die "no key in keys/ to rotate from: run without --rotate to create the first key"
  name=cosign-$(date -u +%Y%m%d%H%M%S)
else
  ((${#existing[@]} == 0)) ||
    die "keys/ already holds ${existing[*]##*/}: use --rotate to add a new key next to it (remove a retired key by deleting its file)"
  name=cosign
fi
pub=$keys_dir/$name.pub
priv=$key_dir/$name.key
pass=$key_dir/$name.password
for f in "$pub" "$priv" "$pass"; do
  [[ ! -e $f ]] || die "$f already exists; not overwriting it"
done

require_cmd cosign "install cosign: https://docs.sigstore.dev/cosign/system_config/installation/ (or: go install github.com/sigstore/cosign/v2/cmd/cosign@v2.4.1)"

# The password is random and never printed: it goes to a file only its owner reads.
(umask 077 && mkdir -p -- "$key_dir") || die "cannot create $key_dir"
temp_dir "$key_dir"
(umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n=' >"$tmp/password") || die "cannot write the password"
# cosign generate-key-pair writes cosign.key and cosign.pub into the working
# directory and reads the password from COSIGN_PASSWORD
# (sigstore/cosign cmd/cosign/cli/generate/generate_key_pair.go GenerateKeyPairCmd).
if ! out=$(cd "$tmp" && COSIGN_PASSWORD=$(<password) cosign generate-key-pair 2>&1); then
  die "cosign generate-key-pair failed: $(first_line "$out")"
fi
[[ -s $tmp/cosign.key && -s $tmp/cosign.pub ]] || die "cosign generate-key-pair wrote no key pair"
grep -qx -- '-----BEGIN PUBLIC KEY-----' "$tmp/cosign.pub" || die "cosign wrote a public key that is not PEM"

mkdir -p -- "$keys_dir" || die "cannot create $keys_dir"
mv -- "$tmp/cosign.key" "$priv"
mv -- "$tmp/password" "$pass"
install -m 0644 -- "$tmp/cosign.pub" "$pub"

log "public key:  ${pub#"$ROOT"/} (commit it: the image ships it and hosts trust it)"
log "private key: $priv, password: $pass (never commit them)"
rel=${pub#"$ROOT"/}
if $rotate; then
  cat >&2 <<EOF

Next steps (rotation; the order matters):
  1. Commit $rel and let the publish workflow publish an image: it trusts the
     old and the new key. Wait until every host runs it (make verify: the
     check bootc-sigpolicy lists the keys the booted image trusts).
  2. Only then sign with the new key: replace the two repository secrets, e.g.
       gh secret set COSIGN_PRIVATE_KEY < '$priv'
       gh secret set COSIGN_PASSWORD < '$pass'
  3. Once every host runs an image signed with the new key, delete the retired
     key's file from keys/ and commit.
EOF
else
  cat >&2 <<EOF

Next steps:
  1. Set the two repository secrets the publish workflow signs with, e.g.
       gh secret set COSIGN_PRIVATE_KEY < '$priv'
       gh secret set COSIGN_PASSWORD < '$pass'
     (or Settings > Secrets and variables > Actions > New repository secret).
  2. Commit $rel.
EOF
fi
printf '%s\n' "$pub"
