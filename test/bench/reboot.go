package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// rebootNote says what the simulated host's figures can and cannot show.
const rebootNote = "Under systemd-nspawn a full reboot restarts userspace and the container only: " +
	"no firmware, boot loader, kernel or initramfs, which is what a soft reboot saves on EC2. " +
	"So the two come out close here; the VM job (make vm-test) logs the figures of a real boot."

// measureReboot runs the simulated host's soft-reboot scenario
// (test/simhost TestSoftReboot), which writes the downtime of each reboot.
func measureReboot(ctx context.Context, t testing.TB, work string) (*Reboot, error) {
	out := filepath.Join(work, "reboot.json")
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-timeout", "20m", "-run", "^TestSoftReboot$", "./simhost/")
	cmd.Dir = harness.Path("test")
	cmd.Env = append(os.Environ(), "BENCH_REBOOT_OUT="+out)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("the simulated host's soft-reboot scenario failed: %v\n%s", err, harness.Tail(log.String(), 40))
	}
	t.Logf("simulated host's soft-reboot scenario: %s", time.Since(start).Round(time.Second))
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("the soft-reboot scenario wrote no figures: %v", err)
	}
	return parseReboot(b)
}

// parseReboot reads TestSoftReboot's figures.
func parseReboot(b []byte) (*Reboot, error) {
	var rb Reboot
	if err := json.Unmarshal(b, &rb); err != nil {
		return nil, fmt.Errorf("the soft-reboot figures %q: %v", b, err)
	}
	if rb.SoftApply <= 0 || rb.FullRollback <= 0 || rb.SoftRollback <= 0 {
		return nil, fmt.Errorf("the soft-reboot figures %q: every downtime must be positive", b)
	}
	rb.Ratio = (rb.SoftApply + rb.SoftRollback) / 2 / rb.FullRollback
	rb.Note = rebootNote
	return &rb, nil
}
