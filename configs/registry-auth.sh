# shellcheck shell=sh
# Installed as /etc/profile.d/bootc-testboot-registry-auth.sh. Root's login
# shells (sudo -i, su -, a console login) carry XDG_RUNTIME_DIR=/run/user/0,
# where podman would look for its own auth.json
# ($XDG_RUNTIME_DIR/containers/auth.json: containers/image
# pkg/docker/config getPathToAuthWithOS). REGISTRY_AUTH_FILE comes first
# (containers/common pkg/auth GetDefaultAuthFile), so root's podman pull,
# push and login use bootc's credentials file, the one
# configs/tmpfiles.conf describes. A `podman login` here writes that file in
# place; a symlink would be replaced by podman's atomic rename.
# Other users keep their own (rootless) auth files.
if [ "$(id -u)" = 0 ]; then
  REGISTRY_AUTH_FILE=/run/ostree/auth.json
  export REGISTRY_AUTH_FILE
fi
