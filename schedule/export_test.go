package schedule

import "time"

// SetPoll makes a run waiting for another instance's lease look again every d (tests).
func (s *Schedule) SetPoll(d time.Duration) { s.poll = d }
