package simhost

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// guestEvaluator is where the guest finds the policy evaluator; the bootc
// wrapper (guest/bootc) hands it to the double's registry backend.
const guestEvaluator = guestSimDir + "/bin/evaluate-policy"

// BuildEvaluator builds test/signing/cmd/evaluate-policy into dir: containers/image's
// signature policy evaluation (the code bootc's image proxy, skopeo, runs when it
// opens an image), static (CGO_ENABLED=0, pure-Go OpenPGP through the
// containers_image_openpgp tag), so it runs in any guest. Every pull of the guest's
// bootc goes through it.
func BuildEvaluator(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "evaluate-policy")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "containers_image_openpgp", "-o", bin, "./signing/cmd/evaluate-policy")
	cmd.Dir = harness.Path("test")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the policy evaluator: %v\n%s", err, out)
	}
	t.Logf("policy evaluator built in %s", time.Since(start).Round(100*time.Millisecond))
	return bin
}
