package testenv

import (
	"sync"
	"time"
	_ "time/tzdata" // Athens loads on hosts without /usr/share/zoneinfo
)

// Athens is Europe/Athens, the time zone of the sample distributor (schedule.timezone in the
// sample config): tests that check local dates and cron ticks use it.
var Athens = mustLocation("Europe/Athens")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("testenv: " + err.Error()) // time/tzdata is embedded: only a typo gets here
	}
	return loc
}

// Clock is a settable clock for tests that drive time (schedule ticks, session expiry).
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock is a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
