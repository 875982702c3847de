package harness

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// NginxIncludeDir is where the Containerfile installs every app's nginx
// snippets (apps/<app>/<app>.upstream.conf and <app>.locations.conf), which
// configs/nginx.conf includes by glob.
const NginxIncludeDir = "/etc/nginx/bootc-testboot.d"

var nginxInclude = regexp.MustCompile(`(?m)^([ \t]*)include[ \t]+` + regexp.QuoteMeta(NginxIncludeDir) + `/(\S+);[ \t]*$`)

// NginxSite returns the site config of the tree at root as a host has it:
// configs/nginx.conf with each include of NginxIncludeDir replaced by the
// apps' files it matches (apps/*/<file>, sorted by name as nginx sorts a glob).
// A glob that matches no app file is an error, as it is for `nginx -t`.
func NginxSite(root string) (string, error) {
	conf, err := os.ReadFile(filepath.Join(root, "configs", "nginx.conf"))
	if err != nil {
		return "", err
	}
	var failed error
	site := nginxInclude.ReplaceAllStringFunc(string(conf), func(m string) string {
		sub := nginxInclude.FindStringSubmatch(m)
		indent, glob := sub[1], sub[2]
		files, err := filepath.Glob(filepath.Join(root, "apps", "*", glob))
		if err != nil || len(files) == 0 {
			failed = fmt.Errorf("configs/nginx.conf: include %s/%s matches no apps/*/%s", NginxIncludeDir, glob, glob)
			return m
		}
		sort.Slice(files, func(i, j int) bool { return path.Base(files[i]) < path.Base(files[j]) })
		var b strings.Builder
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				failed = err
				return m
			}
			for _, l := range strings.SplitAfter(strings.TrimRight(string(data), "\n")+"\n", "\n") {
				if strings.TrimSpace(l) != "" {
					b.WriteString(indent + l)
				} else if l != "" {
					b.WriteString(l)
				}
			}
		}
		return strings.TrimSuffix(b.String(), "\n")
	})
	return site, failed
}
