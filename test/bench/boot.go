package bench

import (
	"fmt"
	"os/exec"
	"testing"

	"bootc-testboot/test/rig"
)

// measureBoot boots images with the boot rig (test/rig) on one simulated
// host and reports boot-to-verified time: from starting systemd-nspawn to
// verify-instance.sh having passed inside the guest. The quick run boots v1
// once; a full run also upgrades to v2 and rolls back to v1.
func measureBoot(t testing.TB, b *buildSet, quick bool) (*Boot, error) {
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		return nil, fmt.Errorf("systemd-nspawn is not installed (apt-get install systemd-container)")
	}
	steps := []struct{ name, version string }{{"install v1", "v1"}}
	if !quick {
		steps = append(steps, struct{ name, version string }{"upgrade to v2", "v2"},
			struct{ name, version string }{"rollback to v1", "v1"})
	}
	host := rig.NewHost(t)
	res := &Boot{}
	for _, s := range steps {
		img, err := b.image(t, layoutOurs, s.version)
		if err != nil {
			return nil, err
		}
		got, err := host.TryBoot(t, host.Deploy(t, img), rig.BootOptions{})
		if err != nil {
			return nil, err
		}
		// A time to a failed verification is not a boot-to-verified time.
		if got.ExitCode != 0 {
			return nil, fmt.Errorf("%s (%s): verify-instance.sh exited %d inside the guest:\n%s",
				s.name, img.Ref, got.ExitCode, got.Report.Failed())
		}
		res.Boots = append(res.Boots, BootTime{Name: s.name, Seconds: got.Verified.Seconds()})
	}
	return res, nil
}
