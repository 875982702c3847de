package main

import (
	"encoding/json"
	"flag"
	"net/http"
	"testing"

	"bootc-testboot/apps/internal/apptest"
)

func TestRunCommandLine(t *testing.T) {
	apptest.CheckCommandLines(t, run, []apptest.CommandLine{
		{Name: "help", Args: []string{"--help"}, WantErr: flag.ErrHelp.Error(), WantStdout: "-build-info"},
		{Name: "version", Args: []string{"-version"}, WantStdout: "dev\n"},
		{Name: "unknown flag", Args: []string{"-verbose"}, WantUsage: true},
		{Name: "stray argument", Args: []string{"info"}, WantUsage: true},
		{Name: "flag without value", Args: []string{"-build-info"}, WantUsage: true},
		{Name: "bad timeout", Args: []string{"-shutdown-timeout", "-1s"}, WantErr: "-shutdown-timeout"},
		{Name: "bad listen address", Args: []string{"-addr", "nohost"}, WantErr: "listen on nohost"},
		{Name: "bad env address", Env: map[string]string{"API_ADDR": "nohost:x"}, WantErr: "listen on nohost:x"},
	})
}

// TestRunServesInfo runs the app as systemd would and reads /api/info with
// the build-info and os-release paths given by flags.
func TestRunServesInfo(t *testing.T) {
	addr := apptest.FreeAddr(t)
	args := []string{"-build-info", "testdata/build-info.json", "-os-release", "testdata/os-release"}
	stop := apptest.Start(t, run, args, map[string]string{"API_ADDR": addr})
	resp, err := http.Get("http://" + addr + "/api/info")
	if err != nil {
		t.Fatal(err)
	}
	var info Info
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/info: %d %v", resp.StatusCode, err)
	}
	if info.Image.Version == nil || *info.Image.Version != "1.4.0" || info.OS.ID == nil || *info.OS.ID != "fedora" || info.AppVersion != "dev" {
		t.Fatalf("info did not use the flag paths: %+v", info)
	}
	if _, err := stop(); err != nil {
		t.Fatalf("run after stop: %v, want nil", err)
	}
}
