#!/usr/bin/env bash
# Turns the bootc OS image into an AMI (or a local qcow2/raw disk) with
# bootc-image-builder. `make ami` and `make qcow2` call it.
#
# Usage: create-ami.sh --image REF [OPTIONS]
#
#   --image REF        the image, in root's container storage under its registry
#                      reference (HOST/NAME:TAG or @sha256:...; not localhost/):
#                      instances update from the reference they were installed from
#   --type TYPE        ami (default: build, upload, register), qcow2 or raw (local disk
#                      under the output directory, no AWS)
#   --region REGION    AWS region (default $AWS_REGION)                          [ami]
#   --bucket BUCKET    existing S3 bucket in that region for the upload          [ami]
#                      (default $AWS_BUCKET)
#   --name NAME        AMI name, unique in the region (default                  [ami]
#                      bootc-testboot-<tag>-<UTC timestamp>)
#   --config FILE      bootc-image-builder config (default config.toml at the repository
#                      root), mounted read-only
#   --rootfs FS        xfs, ext4 or btrfs. Default: xfs for Fedora-based images (they set
#                      no default: label redhat.id=fedora or a fedora base.name label),
#                      else the image's own default
#   --output DIR       where disks, logs and ami.json go (default $OUTPUT or output/)
#   --env-file FILE    AWS credentials as KEY=VALUE lines for the builder container
#                      (default: the AWS_* variables set here are passed by NAME, and
#                      ~/.aws is mounted read-only when it exists)
#   --builder REF      bootc-image-builder image (default $BIB_IMAGE or the digest this
#                      script pins, BIB_PINNED below)
#   --dry-run          print every command (checks, build, tagging) and run none
#   -h, --help         this help
#
# Before any long work, each a one-line error: root (bootc-image-builder needs rootful
# podman and root's image storage); the image is in that storage and is a bootc image;
# for ami: aws works (sts get-caller-identity), the bucket exists in the region, the
# vmimport role exists (the caller needs iam:GetRole to check it) and trusts
# vmie.amazonaws.com, the role may read the bucket (s3:GetBucketLocation, s3:ListBucket,
# s3:GetObject; checked with iam:SimulatePrincipalPolicy when the caller may, else a
# warning), and no AMI of ours has the name yet.
#
# For an AMI it then waits until the AMI is available, requires IMDSv2 on it
# (imds-support v2.0: instances launched from it get HttpTokens=required), tags AMI and
# snapshot with the image reference, digest, version and git revision (bootc-testboot:*
# keys), writes <output>/ami.json and prints the AMI ID as the last line of stdout. For
# qcow2/raw the last line is the disk's path. Progress and the builder's log go to stderr
# and to <output>/bib-<type>.log. Credentials are never put on a command line or in a log.
#
# Exit status: 0 done, 1 a check or a step failed (the error names it), 2 usage error.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly TAG_PREFIX=bootc-testboot
readonly AWS_ENV_NAMES=(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION)
# The builder, pinned by digest so an AMI build does not change under us. The container
# is still published as quay.io/centos-bootc/bootc-image-builder; its code moved from
# github.com/osbuild/bootc-image-builder (archived) to github.com/osbuild/image-builder
# (bootc-image-builder/Containerfile: the image-builder binary installed as
# /usr/bin/bootc-image-builder, same flags). The digest is the multi-arch index as
# published in 2026 (the same pin appears in several public bootc projects' build
# scripts); Renovate (.github/renovate.json) proposes new digests of the :latest tag.
readonly BIB_PINNED=quay.io/centos-bootc/bootc-image-builder:latest@sha256:2b52843ea2bfda73b0a08d97e76b734393b1d3a804681b9fabb26723bd3a2f0b
# What the vmimport service role needs on the bucket (AWS VM Import/Export, "required
# service role"; bootc-image-builder README, "Amazon Machine Images").
readonly VMIMPORT_BUCKET_ACTIONS=(s3:GetBucketLocation s3:ListBucket)
readonly VMIMPORT_OBJECT_ACTIONS=(s3:GetObject)

image="" type=ami region=${AWS_REGION:-} bucket=${AWS_BUCKET:-} name="" rootfs=""
config=$ROOT/config.toml output=${OUTPUT:-$ROOT/output} env_file=""
builder=${BIB_IMAGE:-$BIB_PINNED}
dry_run=false aws_flags=()
# parse_args ARG...: the options, all of them checked before anything runs.
parse_args() {
  local problem tag
  while (($#)); do
    case $1 in
      -h | --help) usage ;;
      --image) need_value "$@"; image=$2; shift ;;
      --type) need_value "$@"; type=$2; shift ;;
      --region) need_value "$@"; region=$2; aws_flags+=(--region); shift ;;
      --bucket) need_value "$@"; bucket=$2; aws_flags+=(--bucket); shift ;;
      --name) need_value "$@"; name=$2; aws_flags+=(--name); shift ;;
      --config) need_value "$@"; config=$2; shift ;;
      --rootfs) need_value "$@"; rootfs=$2; shift ;;
      --output) need_value "$@"; output=$2; shift ;;
      --env-file) need_value "$@"; env_file=$2; shift ;;
      --builder) need_value "$@"; builder=$2; shift ;;
      --dry-run) dry_run=true ;;
      *) bad_arg "$1" ;;
    esac
    shift
  done

  # --- Input: all of it is checked before anything runs. ---------------------------
  [[ -n $image ]] || usage_error "--image is required"
  problem=$(image_ref_problem "$image")
  [[ -z $problem ]] || usage_error "$problem"
  problem=$(image_ref_problem "$builder")
  [[ -z $problem ]] || usage_error "--builder: $problem"
  case $type in
    ami | qcow2 | raw) ;;
    *) usage_error "--type must be ami, qcow2 or raw, not '$type'" ;;
  esac
  case $rootfs in
    "" | xfs | ext4 | btrfs) ;;
    *) usage_error "--rootfs must be xfs, ext4 or btrfs, not '$rootfs'" ;;
  esac
  if [[ $type == ami ]]; then
    [[ -n $region ]] || usage_error "--region (or AWS_REGION) is required for an AMI"
    [[ -n $bucket ]] || usage_error "--bucket (or AWS_BUCKET) is required for an AMI"
    is_aws_region "$region" || usage_error "--region '$region' is not an AWS region (e.g. us-east-1)"
    [[ $bucket =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ && $bucket != *..* ]] ||
      usage_error "--bucket '$bucket' is not an S3 bucket name (3-63 of a-z 0-9 . -)"
    if [[ -z $name ]]; then
      tag=${image##*/}
      tag=${tag%@*}
      [[ $tag == *:* ]] && tag=${tag##*:} || tag=digest
      name=$TAG_PREFIX-$tag-$(date -u +%Y%m%d-%H%M%S)
    fi
    [[ $name =~ ^[A-Za-z0-9()./_@-]{3,128}$ ]] ||
      usage_error "--name '$name' is not a usable AMI name (3-128 of A-Z a-z 0-9 ( ) . / _ @ -)"
  elif ((${#aws_flags[@]})); then
    usage_error "${aws_flags[*]} only apply to --type ami"
  fi
  [[ -f $config ]] || usage_error "config file '$config' does not exist (--config)"
  if [[ -n $env_file ]]; then
    [[ -f $env_file && -r $env_file ]] || usage_error "--env-file '$env_file' is not a readable file"
  fi
  # Instances keep tracking the reference they were installed from: a digest
  # never moves, so `bootc upgrade` on them would never find anything.
  if [[ $image == *@sha256:* ]]; then
    warn "instances installed from a digest reference never receive updates from bootc upgrade; build from a tag (e.g. :latest), or run bootc switch <tag> on them later"
  fi
  case $output in /*) ;; *) output=$PWD/$output ;; esac
  case $config in /*) ;; *) config=$PWD/$config ;; esac
  case $env_file in "" | /*) ;; *) env_file=$PWD/$env_file ;; esac
}

# show CMD...: a command as one line, quoting only what needs it.
show() {
  local a words=()
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@,+-]+$ ]]; then words+=("$a"); else words+=("$(sh_quote "$a")"); fi
  done
  printf '+ %s\n' "${words[*]}"
}

aws_cmd() { aws --region "$region" --output json "$@"; }

# aws_read CMD...: stdout of a read-only aws call in $out; on failure its last stderr line
# in $err (stderr stays out of the JSON).
aws_read() {
  local errf
  errf=$(mktemp)
  if out=$(aws_cmd "$@" 2>"$errf"); then
    rm -f "$errf"
    return 0
  fi
  err=$(grep -v '^[[:space:]]*$' "$errf" | tail -n1 || true)
  rm -f "$errf"
  return 1
}

# The builder invocation; credentials pass by NAME only (podman copies the values).
bib_cmd() {
  cmd=(podman run --rm --privileged --pull=newer --security-opt label=type:unconfined_t
    -v "$config:/config.toml:ro" -v "$output:/output"
    -v /var/lib/containers/storage:/var/lib/containers/storage)
  if [[ $type == ami ]]; then
    if [[ -n $env_file ]]; then
      cmd+=(--env-file "$env_file")
    else
      local n
      for n in "${AWS_ENV_NAMES[@]}"; do
        [[ -z ${!n:-} ]] || cmd+=(--env "$n")
      done
      [[ ! -d ${HOME:-/root}/.aws ]] || cmd+=(-v "${HOME:-/root}/.aws:/root/.aws:ro")
    fi
  fi
  cmd+=("$builder" --type "$type")
  [[ $type != ami ]] || cmd+=(--aws-ami-name "$name" --aws-bucket "$bucket" --aws-region "$region")
  [[ -z $rootfs ]] || cmd+=(--rootfs "$rootfs")
  cmd+=(--progress verbose "$image")
}

tags_json() {
  jq -cn --arg p "$TAG_PREFIX" --arg i "$image" --arg d "$1" --arg v "$2" --arg r "$3" \
    '[{Key: "\($p):image", Value: $i}, {Key: "\($p):digest", Value: $d},
      {Key: "\($p):version", Value: $v}, {Key: "\($p):revision", Value: $r}]'
}

# dry_run_plan: print every command the run would make, and run none.
dry_run_plan() {
  echo "# dry run: nothing below is executed"
  show id -u
  show podman image exists "$image"
  show podman image inspect "$image"
  if [[ $type == ami ]]; then
    show aws --region "$region" --output json sts get-caller-identity
    show aws --region "$region" --output json s3api head-bucket --bucket "$bucket"
    show aws --region "$region" --output json s3api get-bucket-location --bucket "$bucket"
    show aws --region "$region" --output json iam get-role --role-name vmimport
    show aws --region "$region" --output json iam simulate-principal-policy --policy-source-arn '<vmimport role ARN>' \
      --action-names "${VMIMPORT_BUCKET_ACTIONS[@]}" --resource-arns "arn:aws:s3:::$bucket"
    show aws --region "$region" --output json iam simulate-principal-policy --policy-source-arn '<vmimport role ARN>' \
      --action-names "${VMIMPORT_OBJECT_ACTIONS[@]}" --resource-arns "arn:aws:s3:::$bucket/$name"
    show aws --region "$region" --output json ec2 describe-images --owners self --filters "Name=name,Values=$name"
  fi
  [[ -n $rootfs ]] || echo "# --rootfs xfs is added when the image is Fedora-based (see --help)"
  bib_cmd
  show mkdir -p "$output"
  show "${cmd[@]}"
  if [[ $type == ami ]]; then
    show aws --region "$region" --output json ec2 wait image-available --image-ids '<AMI>'
    show aws --region "$region" --output json ec2 modify-image-attribute --image-id '<AMI>' --imds-support Value=v2.0
    show aws --region "$region" --output json ec2 describe-image-attribute --image-id '<AMI>' --attribute imdsSupport
    show aws --region "$region" --output json ec2 create-tags --resources '<AMI>' '<SNAPSHOT>' \
      --tags "$(tags_json '<DIGEST>' '<VERSION>' '<REVISION>')"
    echo "# then: write $output/ami.json and print the AMI ID as the last line"
  fi
}

# --- Preflight: read-only, fast, one clear line each. ----------------------------
# inspect_image: the image is in root's storage and is a bootc image; sets digest, version,
# revision (and rootfs for a Fedora base).
inspect_image() {
  require_root
  require_cmd podman
  require_cmd jq
  podman image exists "$image" ||
    die "image $image is not in root's container storage; pull it first: podman pull $image"
  inspect=$(podman image inspect "$image") || die "podman image inspect $image failed"
  info=$(jq -c '.[0] | {digest: (.Digest // ""), labels: (.Labels // {})}' <<<"$inspect") ||
    die "podman image inspect $image printed no image"
  [[ $(jq -r '.labels["containers.bootc"] // empty' <<<"$info") == 1 ]] ||
    die "image $image is not a bootc image (label containers.bootc=1 is missing)"
  digest=$(jq -r '.digest' <<<"$info")
  is_digest "$digest" || die "image $image has no manifest digest in local storage; pull it from the registry (podman pull $image)"
  version=$(jq -r '.labels["org.opencontainers.image.version"] // "unknown"' <<<"$info")
  revision=$(jq -r '.labels["org.opencontainers.image.revision"] // "unknown"' <<<"$info")
  if [[ -z $rootfs ]] && jq -e '(.labels["redhat.id"] // "") == "fedora"
      or ((.labels["org.opencontainers.image.base.name"] // "") | test("/fedora"))' >/dev/null <<<"$info"; then
    rootfs=xfs
    log "Fedora-based image: using --rootfs xfs (Fedora sets no default)"
  fi
}

# check_aws: credentials, bucket, vmimport role and AMI name, before the long build.
check_aws() {
  require_cmd aws "AWS CLI v2"
  out="" err=""
  aws_read sts get-caller-identity || die "AWS credentials do not work (aws sts get-caller-identity): $err"
  log "AWS account $(jq -r '.Account // "?"' <<<"$out" 2>/dev/null || echo '?')"
  aws_read s3api head-bucket --bucket "$bucket" ||
    die "S3 bucket '$bucket' does not exist or is not accessible (create it in $region first): $err"
  aws_read s3api get-bucket-location --bucket "$bucket" ||
    die "cannot read the region of bucket '$bucket': $err"
  where=$(jq -r '.LocationConstraint // "us-east-1" | if . == "EU" then "eu-west-1" elif . == "" then "us-east-1" else . end' <<<"$out")
  [[ $where == "$region" ]] || die "S3 bucket '$bucket' is in $where, not in $region"
  if ! aws_read iam get-role --role-name vmimport; then
    case $err in
      *"(NoSuchEntity)"*)
        die "the IAM service role 'vmimport' does not exist; the snapshot import needs it (AWS VM Import/Export: required service role): $err" ;;
      *"(AccessDenied)"*)
        die "cannot check the IAM service role 'vmimport': these credentials lack iam:GetRole (grant it, or run as an identity that has it): $err" ;;
      *)
        die "cannot read the IAM service role 'vmimport': $err" ;;
    esac
  fi
  role_arn=$(jq -r '.Role.Arn // empty' <<<"$out")
  # VM Import assumes the role as vmie.amazonaws.com (AWS VM Import/Export: trust policy).
  jq -e '[.Role.AssumeRolePolicyDocument.Statement[]? | select(.Effect == "Allow")
          | .Principal.Service? | if type == "array" then .[] else . end] | index("vmie.amazonaws.com")' \
    >/dev/null <<<"$out" ||
    die "the IAM role 'vmimport' does not trust vmie.amazonaws.com (its trust policy must allow sts:AssumeRole for that service; AWS VM Import/Export: required service role)"
  # The role must read the uploaded disk from the bucket. Checked with the IAM policy
  # simulator (covers inline and attached policies); without iam:SimulatePrincipalPolicy
  # only a warning, and a missing permission shows up later as a failed import.
  partition=$(cut -d: -f2 <<<"$role_arn")
  s3arn="arn:${partition:-aws}:s3:::$bucket"
  denied=() unchecked=""
  for spec in "bucket|$s3arn|${VMIMPORT_BUCKET_ACTIONS[*]}" "object|$s3arn/$name|${VMIMPORT_OBJECT_ACTIONS[*]}"; do
    IFS='|' read -r _ resource actions <<<"$spec"
    read -r -a action_list <<<"$actions"
    if aws_read iam simulate-principal-policy --policy-source-arn "$role_arn" \
      --action-names "${action_list[@]}" --resource-arns "$resource"; then
      mapfile -t -O "${#denied[@]}" denied < <(jq -r '.EvaluationResults[]? | select(.EvalDecision != "allowed") | .EvalActionName' <<<"$out")
    else
      unchecked=$err
    fi
  done
  if ((${#denied[@]})); then
    die "the IAM role 'vmimport' may not ${denied[*]} on bucket '$bucket'; the snapshot import reads the disk from there (attach a policy allowing s3:GetBucketLocation and s3:ListBucket on $s3arn and s3:GetObject on $s3arn/*)"
  fi
  if [[ -n $unchecked ]]; then
    warn "cannot check the S3 permissions of role 'vmimport' (needs iam:SimulatePrincipalPolicy): it must allow s3:GetBucketLocation and s3:ListBucket on $s3arn and s3:GetObject on $s3arn/*, or the import fails after the upload: $unchecked"
  fi
  aws_read ec2 describe-images --owners self --filters "Name=name,Values=$name" ||
    die "cannot list our AMIs: $err"
  taken=$(jq -r '.Images[0].ImageId // empty' <<<"$out")
  [[ -z $taken ]] || die "AMI name '$name' is already taken in $region by $taken (--name)"
}

# --- Build (and for an AMI: upload, import, register). ---------------------------
# build_disk: run bootc-image-builder, its log on stderr and in <output>/bib-TYPE.log.
build_disk() {
  mkdir -p "$output" || die "cannot create $output"
  bib_cmd
  logfile=$output/bib-$type.log
  log "building $type from $image ($digest) with $builder; log: $logfile"
  set +e
  "${cmd[@]}" 2>&1 | tee "$logfile" >&2
  rc=${PIPESTATUS[0]}
  set -e
  # Config customizations the builder does not support for bootc disks are only a warning
  # there (osbuild/images manifestgen: WarningsOutput); say so, the build did not use them
  # as written.
  if unsupported=$(grep -m1 -o 'blueprint validation failed.*' "$logfile"); then
    warn "bootc-image-builder does not support part of $config: ${unsupported:0:300}"
  fi
  if ((rc != 0)); then
    if line=$(grep -m1 -o 'Unable to import snapshot.*' "$logfile"); then
      die "the snapshot import failed: ${line:0:300} -- check the vmimport role and its access to bucket '$bucket' (log: $logfile)"
    fi
    last=$(grep -iE 'error|cannot|failed' "$logfile" | tail -n1 || true)
    die "bootc-image-builder failed (exit $rc): ${last:-see the log} (log: $logfile)"
  fi
}

# local_disk: the qcow2 or raw disk the build wrote; its path is the last line.
local_disk() {
  case $type in
    qcow2) disk=$output/qcow2/disk.qcow2 ;;
    raw) disk=$output/image/disk.raw ;;
  esac
  [[ -f $disk ]] || die "bootc-image-builder reported success but $disk is missing (log: $logfile)"
  log "built $disk from $image ($digest)"
  echo "$disk"
}

# register_ami: wait for the AMI, require IMDSv2, tag it, write ami.json; its ID is the
# last line.
register_ami() {
  ami=$(grep -oE 'AMI registered: ami-[0-9a-f]+' "$logfile" | tail -n1 | awk '{print $3}' || true)
  snap=$(grep -oE 'Snapshot ID: snap-[0-9a-f]+' "$logfile" | tail -n1 | awk '{print $3}' || true)
  [[ -n $ami ]] || die "bootc-image-builder finished but printed no 'AMI registered: ami-...' line (log: $logfile)"
  [[ -n $snap ]] || die "bootc-image-builder registered $ami but printed no 'Snapshot ID: snap-...' line (log: $logfile)"
  log "registered $ami (snapshot $snap); waiting until it is available"
  aws_cmd ec2 wait image-available --image-ids "$ami" ||
    die "AMI $ami did not become available (aws ec2 describe-images --image-ids $ami)"
  # IMDSv2 only: instances launched from the AMI get HttpTokens=required (and a hop limit
  # of 2, so containers reach IMDS too). bootc-image-builder cannot set it: its upload
  # (osbuild/images pkg/cloud/awscloud: AWS.Register) sends no ImdsSupport. Irreversible
  # on this AMI by design; cloud-init and the AWS SDKs speak IMDSv2.
  out="" err=""
  if ! aws_cmd ec2 modify-image-attribute --image-id "$ami" --imds-support Value=v2.0 ||
    ! aws_read ec2 describe-image-attribute --image-id "$ami" --attribute imdsSupport ||
    [[ $(jq -r '.ImdsSupport.Value // empty' <<<"$out") != v2.0 ]]; then
    die "AMI $ami is available but does not require IMDSv2; do not launch it: retry with aws ec2 modify-image-attribute --image-id $ami --imds-support Value=v2.0, or deregister it${err:+ ($err)}"
  fi
  aws_cmd ec2 create-tags --resources "$ami" "$snap" --tags "$(tags_json "$digest" "$version" "$revision")" ||
    die "AMI $ami is available but tagging it and $snap failed"
  jq -n --arg ami "$ami" --arg snap "$snap" --arg name "$name" --arg region "$region" --arg bucket "$bucket" \
    --arg image "$image" --arg digest "$digest" --arg version "$version" --arg revision "$revision" \
    --arg created "$(utc_now)" --arg builder "$builder" \
    '{ami_id: $ami, snapshot_id: $snap, name: $name, region: $region, bucket: $bucket,
      image: $image, digest: $digest, version: $version, revision: $revision, created: $created,
      imds_support: "v2.0", builder: $builder}' \
    >"$output/ami.json" || die "cannot write $output/ami.json"
  log "AMI $ami ($name) is available in $region; details in $output/ami.json"
  echo "$ami"
}

main() {
  parse_args "$@"
  if $dry_run; then
    dry_run_plan
    exit "$EX_OK"
  fi
  inspect_image
  [[ $type != ami ]] || check_aws
  build_disk
  if [[ $type == ami ]]; then register_ami; else local_disk; fi
}

main "$@"
