//go:build containers_image_openpgp

package signing

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/image"
	"github.com/containers/image/v5/signature"
	"github.com/containers/image/v5/types"
)

// evaluatorBuilt: this build can evaluate policies.
const evaluatorBuilt = true

// Evaluate decides, as containers/image on a host with root's files does,
// whether the image ref ("host:port/repo:tag" or "...@sha256:...") may be
// pulled from a plain-HTTP registry: nil when the policy accepts it.
//
// It reads root/etc/containers/policy.json and root/etc/containers/registries.d
// as they are in the image; key paths in the policy name files of the host, so
// each absolute path is read under root (what a chroot into root would see).
// The steps are those of a pull: signature.NewPolicyContext and
// PolicyContext.IsRunningImageAllowed on the unparsed image of the docker
// transport (containers/image copy/single.go copier.copySingleImage).
func Evaluate(ctx context.Context, root, ref string) error {
	raw, err := os.ReadFile(filepath.Join(root, "etc/containers/policy.json"))
	if err != nil {
		return fmt.Errorf("the image's policy: %w", err)
	}
	rooted, err := underRoot(raw, root)
	if err != nil {
		return err
	}
	policy, err := signature.NewPolicyFromBytes(rooted)
	if err != nil {
		return fmt.Errorf("the image's policy.json does not parse: %w", err)
	}
	pc, err := signature.NewPolicyContext(policy)
	if err != nil {
		return err
	}
	defer func() { _ = pc.Destroy() }()

	// The image's registries.conf (mirrors, aliases) when it has one; else none.
	scratch, err := os.MkdirTemp("", "signing-eval.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	conf, confDir := filepath.Join(root, "etc/containers/registries.conf"), filepath.Join(root, "etc/containers/registries.conf.d")
	if _, err := os.Stat(conf); err != nil {
		conf = filepath.Join(scratch, "registries.conf")
		if err := os.WriteFile(conf, nil, 0o644); err != nil {
			return err
		}
	}
	if _, err := os.Stat(confDir); err != nil {
		confDir = scratch
	}
	sys := &types.SystemContext{
		RegistriesDirPath:           filepath.Join(root, "etc/containers/registries.d"),
		SystemRegistriesConfPath:    conf,
		SystemRegistriesConfDirPath: confDir,
		// Plain HTTP: containers/image falls back from https to http when TLS
		// verification is off (docker/docker_client.go detectPropertiesHelper).
		DockerInsecureSkipTLSVerify: types.OptionalBoolTrue,
		DockerAuthConfig:            &types.DockerAuthConfig{},
	}
	named, err := docker.ParseReference("//" + ref)
	if err != nil {
		return fmt.Errorf("reference %q: %w", ref, err)
	}
	src, err := named.NewImageSource(ctx, sys)
	if err != nil {
		return fmt.Errorf("opening %s: %w", ref, err)
	}
	defer src.Close()
	allowed, err := pc.IsRunningImageAllowed(ctx, image.UnparsedInstance(src, nil))
	if err != nil {
		return err
	}
	if !allowed {
		return fmt.Errorf("%s: refused without a reason", ref)
	}
	return nil
}

// underRoot rewrites the policy's absolute key paths to paths under root.
func underRoot(raw []byte, root string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("the image's policy.json is not JSON: %w", err)
	}
	fix := func(p string) string {
		if strings.HasPrefix(p, "/") {
			return filepath.Join(root, p)
		}
		return p
	}
	var walkReqs func(v any)
	walkReqs = func(v any) {
		reqs, _ := v.([]any)
		for _, r := range reqs {
			m, ok := r.(map[string]any)
			if !ok {
				continue
			}
			for _, k := range []string{"keyPath", "rekorPublicKeyPath"} {
				if s, ok := m[k].(string); ok {
					m[k] = fix(s)
				}
			}
			for _, k := range []string{"keyPaths", "rekorPublicKeyPaths"} {
				if list, ok := m[k].([]any); ok {
					for i, p := range list {
						if s, ok := p.(string); ok {
							list[i] = fix(s)
						}
					}
				}
			}
		}
	}
	walkReqs(doc["default"])
	if transports, ok := doc["transports"].(map[string]any); ok {
		for _, scopes := range transports {
			if m, ok := scopes.(map[string]any); ok {
				for _, reqs := range m {
					walkReqs(reqs)
				}
			}
		}
	}
	return json.Marshal(doc)
}
