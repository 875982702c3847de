package lifecycle

import (
	"sync"
	"time"
)

// downtimeGrace is how long the report waits for an outage to end.
var downtimeGrace = 30 * time.Second

// Downtime calls probe (one request to the service, true when it answered
// well) one after the other until the first outage is over. The returned
// function stops it and reports that outage: from the last good answer before
// it to the first good answer after it; 0 when none ended within
// downtimeGrace of the call. Its resolution is one probe.
func Downtime(probe func() bool) func() time.Duration {
	var (
		mu       sync.Mutex
		down     time.Duration
		stop     = make(chan struct{})
		finished = make(chan struct{})
	)
	go func() {
		defer close(finished)
		var lastOK time.Time
		failed := false
		for {
			select {
			case <-stop:
				return
			default:
			}
			ok := probe()
			now := time.Now()
			if !ok {
				failed = failed || !lastOK.IsZero()
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if failed {
				mu.Lock()
				down = now.Sub(lastOK)
				mu.Unlock()
				return
			}
			lastOK = now
		}
	}()
	return func() time.Duration {
		// The outage may be ending as the caller stops: give it time to.
		select {
		case <-finished:
		case <-time.After(downtimeGrace):
		}
		close(stop)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return down
	}
}
