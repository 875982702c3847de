package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Info is the body of GET /api/info: what this instance runs. Its top level
// is the image's build-info document (version, revision, created, source,
// title, base_image), so scripts read .version as they would read the file,
// extended with facts about the running host. A value that cannot be read is
// null and the reason is listed in Errors, so one broken source never hides
// the rest.
type Info struct {
	Image                  // flattened into the top level
	OS            OS       `json:"os"`
	Kernel        *string  `json:"kernel"`
	BootID        *string  `json:"boot_id"`
	UptimeSeconds *float64 `json:"uptime_seconds"`
	// Bootc is true when the host booted a bootc/ostree deployment.
	Bootc      *bool    `json:"bootc"`
	AppVersion string   `json:"app_version"`
	Errors     []string `json:"errors"`
}

// Image comes from the build-info file the image build writes
// (/usr/share/bootc-testboot/build-info.json).
type Image struct {
	Version   *string `json:"version"`
	Revision  *string `json:"revision"`
	Created   *string `json:"created"`
	Source    *string `json:"source"`
	Title     *string `json:"title"`
	BaseImage *string `json:"base_image"`
}

// OS comes from os-release(5).
type OS struct {
	ID         *string `json:"id"`
	Name       *string `json:"name"`
	Version    *string `json:"version"`
	VersionID  *string `json:"version_id"`
	PrettyName *string `json:"pretty_name"`
}

// Sources are the files Info reads; tests point them at fixtures.
type Sources struct {
	BuildInfo    string
	OSRelease    string
	BootID       string
	Uptime       string
	OstreeBooted string
}

// DefaultSources are the paths on a bootc host.
var DefaultSources = Sources{
	BuildInfo:    "/usr/share/bootc-testboot/build-info.json",
	OSRelease:    "/usr/lib/os-release",
	BootID:       "/proc/sys/kernel/random/boot_id",
	Uptime:       "/proc/uptime",
	OstreeBooted: "/run/ostree-booted",
}

// ReadInfo collects Info from src. It never fails as a whole.
func ReadInfo(src Sources, appVersion string) Info {
	info := Info{AppVersion: appVersion, Errors: []string{}}
	note := func(what string, err error) {
		info.Errors = append(info.Errors, what+": "+err.Error())
	}

	img, err := readBuildInfo(src.BuildInfo)
	info.Image = img // keys that did parse are kept
	if err != nil {
		note("build-info", err)
	}
	if osr, err := readOSRelease(src.OSRelease); err != nil {
		note("os-release", err)
	} else {
		info.OS = osr
	}
	if k, err := kernelRelease(); err != nil {
		note("kernel", err)
	} else {
		info.Kernel = &k
	}
	if id, err := readLine(src.BootID); err != nil {
		note("boot_id", err)
	} else {
		info.BootID = &id
	}
	if up, err := readUptime(src.Uptime); err != nil {
		note("uptime", err)
	} else {
		info.UptimeSeconds = &up
	}
	switch _, err := os.Stat(src.OstreeBooted); {
	case err == nil:
		info.Bootc = ptr(true)
	case errors.Is(err, os.ErrNotExist):
		info.Bootc = ptr(false)
	default:
		note("bootc", err)
	}
	return info
}

func ptr[T any](v T) *T { return &v }

// readBuildInfo reads each expected key on its own: a key with the wrong type
// is reported and left null while the others are kept.
func readBuildInfo(path string) (Image, error) {
	var img Image
	data, err := os.ReadFile(path)
	if err != nil {
		return img, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return img, fmt.Errorf("%s: %w", path, err)
	}
	fields := map[string]**string{
		"version": &img.Version, "revision": &img.Revision, "created": &img.Created,
		"source": &img.Source, "title": &img.Title, "base_image": &img.BaseImage,
	}
	var bad []string
	found := 0
	for key, dst := range fields {
		v, ok := raw[key]
		if !ok {
			continue
		}
		found++
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			bad = append(bad, key)
			continue
		}
		*dst = &s
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return img, fmt.Errorf("%s: not a string: %s", path, strings.Join(bad, ", "))
	}
	if found == 0 {
		return img, fmt.Errorf("%s: none of the keys version, revision, created, source, title, base_image", path)
	}
	return img, nil
}

// readOSRelease parses os-release(5): KEY=value lines, values optionally
// quoted with shell-style escapes; other lines are ignored as the format says.
func readOSRelease(path string) (OS, error) {
	var o OS
	data, err := os.ReadFile(path)
	if err != nil {
		return o, err
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		vars[key] = unquote(value)
	}
	if err := sc.Err(); err != nil {
		return o, fmt.Errorf("%s: %w", path, err)
	}
	get := func(k string) *string {
		if v, ok := vars[k]; ok {
			return &v
		}
		return nil
	}
	o = OS{ID: get("ID"), Name: get("NAME"), Version: get("VERSION"),
		VersionID: get("VERSION_ID"), PrettyName: get("PRETTY_NAME")}
	if o.ID == nil && o.Name == nil && o.Version == nil && o.VersionID == nil && o.PrettyName == nil {
		return o, fmt.Errorf("%s: no ID, NAME, VERSION, VERSION_ID or PRETTY_NAME", path)
	}
	return o, nil
}

func unquote(v string) string {
	if len(v) < 2 {
		return v
	}
	switch q := v[0]; {
	case q == '\'' && v[len(v)-1] == '\'':
		return v[1 : len(v)-1]
	case q == '"' && v[len(v)-1] == '"':
		var b strings.Builder
		inner := v[1 : len(v)-1]
		for i := 0; i < len(inner); i++ {
			if inner[i] == '\\' && i+1 < len(inner) {
				i++
			}
			b.WriteByte(inner[i])
		}
		return b.String()
	}
	return v
}

func readLine(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// readUptime reads the first field of /proc/uptime: seconds since boot.
func readUptime(path string) (float64, error) {
	line, err := readLine(path)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(line, " ")
	up, err := strconv.ParseFloat(first, 64)
	if err != nil || !(up >= 0) || math.IsInf(up, 0) { // also rejects NaN, which JSON cannot carry
		return 0, fmt.Errorf("%s: %q is not a number of seconds", path, first)
	}
	return up, nil
}

// kernelRelease is uname -r, from the uname(2) system call.
func kernelRelease() (string, error) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release { // int8 or uint8 depending on GOARCH
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b), nil
}
