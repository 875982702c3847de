package bench

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Load is one wrk run against one URL at one concurrency level.
type Load struct {
	Target      string  `json:"target"`
	URL         string  `json:"url"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
	Requests    int64   `json:"requests"`
	RequestsSec float64 `json:"requests_per_sec"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	// Errors counts socket errors and non-2xx/3xx answers: a fast run full of
	// errors must not pass for a fast server.
	Errors int64 `json:"errors"`
	// Visits is how a durable visit's run reached the disk (GET / on hello only).
	Visits *VisitStats `json:"visits,omitempty"`
}

// VisitStats counts a run's stored visits and the flushes that stored them,
// from the counter file and the renames onto it, the same way for every
// counter design. Visits include requests wrk left in flight at its end.
type VisitStats struct {
	Visits         uint64  `json:"visits"`
	Flushes        int64   `json:"flushes"`
	FlushesPerSec  float64 `json:"flushes_per_sec"`
	VisitsPerFlush float64 `json:"visits_per_flush"`
}

// runWrk drives url with wrk for d at conns connections (one thread per core,
// never more threads than connections) and returns its figures.
func runWrk(ctx context.Context, url string, conns, threads int, d time.Duration) (Load, error) {
	if threads > conns {
		threads = conns
	}
	args := []string{
		"-t", strconv.Itoa(threads),
		"-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())),
		"--timeout", "2s",
		"--latency", url,
	}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return Load{}, fmt.Errorf("wrk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	l, err := parseWrk(string(out))
	if err != nil {
		return Load{}, fmt.Errorf("wrk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	l.URL, l.Connections = url, conns
	return l, nil
}

// parseWrk reads the figures out of `wrk --latency` output (wrk 4.x format).
func parseWrk(out string) (Load, error) {
	var l Load
	var haveRate, have50, have99, haveCount bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return l, fmt.Errorf("bad Requests/sec %q", f[1])
			}
			l.RequestsSec, haveRate = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			v, err := parseDuration(f[1])
			if err != nil {
				return l, err
			}
			if f[0] == "50%" {
				l.P50Ms, have50 = v, true
			} else {
				l.P99Ms, have99 = v, true
			}
		case len(f) >= 5 && f[1] == "requests" && f[2] == "in":
			// "85767 requests in 1.01s, 12.27MB read"
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return l, fmt.Errorf("bad request count %q", f[0])
			}
			sec, err := parseDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return l, err
			}
			l.Requests, l.Seconds, haveCount = n, sec/1000, true
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			// "Socket errors: connect 0, read 2, write 0, timeout 0"
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if err != nil {
					return l, fmt.Errorf("bad socket error count in %q", sc.Text())
				}
				l.Errors += n
			}
		case len(f) == 5 && f[0] == "Non-2xx":
			// "Non-2xx or 3xx responses: 12"
			n, err := strconv.ParseInt(f[4], 10, 64)
			if err != nil {
				return l, fmt.Errorf("bad non-2xx count in %q", sc.Text())
			}
			l.Errors += n
		}
	}
	if !haveRate || !have50 || !have99 || !haveCount {
		return l, fmt.Errorf("wrk output lacks requests/sec, request count or the 50%%/99%% latency lines (was --latency given?)")
	}
	if l.Requests == 0 {
		return l, fmt.Errorf("wrk completed no request")
	}
	return l, nil
}

// parseDuration turns wrk's "628.00us", "1.09ms", "1.01s", "2.00m" into milliseconds.
func parseDuration(s string) (float64, error) {
	units := []struct {
		suffix string
		ms     float64
	}{{"us", 0.001}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("bad wrk duration %q", s)
			}
			return v * u.ms, nil
		}
	}
	return 0, fmt.Errorf("bad wrk duration %q (no unit)", s)
}
