package lifecycle

import (
	"testing"
	"time"
)

func TestDowntimeMeasuresTheFirstOutage(t *testing.T) {
	// Good, then down from 100 ms to 400 ms, then good again.
	start := time.Now()
	stop := Downtime(func() bool {
		el := time.Since(start)
		time.Sleep(10 * time.Millisecond)
		return el < 100*time.Millisecond || el > 400*time.Millisecond
	})
	if d := stop(); d < 300*time.Millisecond || d > 600*time.Millisecond {
		t.Errorf("downtime %s, want about 300 ms", d)
	}
}

func TestDowntimeIsZeroWithoutAnOutageOrARecovery(t *testing.T) {
	defer func(g time.Duration) { downtimeGrace = g }(downtimeGrace)
	downtimeGrace = 200 * time.Millisecond
	for name, probe := range map[string]func() bool{
		"always up":      func() bool { time.Sleep(time.Millisecond); return true },
		"never recovers": func() func() bool { n := 0; return func() bool { n++; time.Sleep(time.Millisecond); return n < 5 } }(),
	} {
		if d := Downtime(probe)(); d != 0 {
			t.Errorf("%s: downtime %s, want 0", name, d)
		}
	}
}
