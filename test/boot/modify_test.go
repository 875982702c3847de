package boot

import (
	"path/filepath"

	"bootc-testboot/test/harness"
)

// The changes the scenarios make to a copy of the repository before building
// (harness.BuildOptions.Modify). Each fails loudly when its anchor is gone, so
// a reorganised file breaks the test instead of silently building the same image.

// changeHello changes hello's greeting: a new version of an existing app.
func changeHello(dir string) error {
	return harness.ReplaceOnce(filepath.Join(dir, "apps", "hello", "handlers.go"),
		`"`+greetingV1+`"`, `"`+greetingV2+`"`)
}

// breakAPIUnit gives api an argument it rejects, so its binary exits non-zero
// at every start: a broken unit, as a bad release would ship.
func breakAPIUnit(dir string) error {
	return harness.ReplaceOnce(filepath.Join(dir, "apps", "api", "api.service"),
		"ExecStart=/usr/bin/api\n", "ExecStart=/usr/bin/api -no-such-flag\n")
}
