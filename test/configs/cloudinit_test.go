package configs

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"bootc-testboot/test/harness"
)

// maxSearchWait caps Ec2's max_wait: sshd is ordered after cloud-init's
// network stage (canonical/cloud-init systemd/cloud-init-network.service.tmpl,
// Before=sshd.service), so a host without a metadata service answers SSH only
// after this many seconds. cloud-init's own default is 240
// (cloudinit/sources/DataSourceEc2.py, url_max_wait).
const maxSearchWait = 60

// ds-identify takes datasource_list only from a single-line flow sequence
// (canonical/cloud-init tools/ds-identify, read_datasource_list and
// get_single_line_flow_sequence); other YAML forms fall back to its default.
var dsListLine = regexp.MustCompile(`(?m)^datasource_list:[ \t]*\[([^\]\n]*)\][ \t]*(#.*)?$`)

// checkCloudInitDatasource: EC2 first, then None, and a bounded search.
func checkCloudInitDatasource(data string) error {
	var cfg struct {
		DatasourceList []string `yaml:"datasource_list"`
		Datasource     map[string]struct {
			MaxWait *int `yaml:"max_wait"`
			Timeout *int `yaml:"timeout"`
		} `yaml:"datasource"`
	}
	dec := yaml.NewDecoder(strings.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("not the expected cloud-config: %v", err)
	}
	// ds-identify uses a list of one datasource plus None as is, without a
	// platform check (tools/ds-identify _main), so cloud-init runs on any host.
	if want := []string{"Ec2", "None"}; !slices.Equal(cfg.DatasourceList, want) {
		return fmt.Errorf("datasource_list is %q, want %q", cfg.DatasourceList, want)
	}
	m := dsListLine.FindAllStringSubmatch(data, -1)
	if len(m) != 1 {
		return fmt.Errorf("datasource_list must be one line, [ ... ] (ds-identify reads no other form)")
	}
	ec2, ok := cfg.Datasource["Ec2"]
	switch {
	case !ok:
		return fmt.Errorf("no datasource.Ec2 section: Ec2 would poll for its default 240 seconds")
	case ec2.MaxWait == nil || ec2.Timeout == nil:
		return fmt.Errorf("datasource.Ec2 needs both max_wait and timeout (defaults 240 and 50)")
	case *ec2.MaxWait <= 0:
		// wait_for_metadata_service returns False without a request.
		return fmt.Errorf("datasource.Ec2.max_wait %d: cloud-init would never ask the metadata service", *ec2.MaxWait)
	case *ec2.MaxWait > maxSearchWait:
		return fmt.Errorf("datasource.Ec2.max_wait %d: sshd would wait more than %d seconds where there is no metadata service", *ec2.MaxWait, maxSearchWait)
	case *ec2.Timeout <= 0 || *ec2.Timeout > *ec2.MaxWait:
		return fmt.Errorf("datasource.Ec2.timeout %d must be between 1 and max_wait (%d)", *ec2.Timeout, *ec2.MaxWait)
	}
	return nil
}

func TestCloudInitDatasourceBounded(t *testing.T) {
	if err := checkCloudInitDatasource(harness.ReadFile(t, harness.Path("configs", "cloud-init-datasource.cfg"))); err != nil {
		t.Errorf("configs/cloud-init-datasource.cfg: %v", err)
	}
}

func TestCloudInitDatasourceCheckFails(t *testing.T) {
	good := harness.ReadFile(t, harness.Path("configs", "cloud-init-datasource.cfg"))
	for _, c := range []struct{ name, from, to, want string }{
		{"no None", "[ Ec2, None ]", "[ Ec2 ]", "datasource_list is"},
		{"block sequence", "datasource_list: [ Ec2, None ]", "datasource_list:\n  - Ec2\n  - None", "one line"},
		{"cloud-init's default wait", "max_wait: 30", "max_wait: 240", "more than 60 seconds"},
		{"no max_wait", "max_wait: 30", "", "needs both"},
		{"no search", "max_wait: 30", "max_wait: 0", "never ask"},
		{"timeout over max_wait", "timeout: 5", "timeout: 50", "between 1 and max_wait"},
		{"misspelt key", "timeout: 5", "timout: 5", "not the expected"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.from) {
				t.Fatalf("configs/cloud-init-datasource.cfg has no %q to change", c.from)
			}
			err := checkCloudInitDatasource(strings.Replace(good, c.from, c.to, 1))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}
