package schedule

import (
	"context"
	"time"
)

// compactOld packs the closed RMAs that have not changed for retention.compact_after before
// the tick (store.Compact: each RMA in one atomic step, so a run cut off is finished by the
// next, and a repeated run finds nothing to do).
func (s *Schedule) compactOld(ctx context.Context, tick time.Time, rep *Report) error {
	res, err := s.store.Compact(ctx, tick.Add(-s.compact))
	rep.Compacted = res.Compacted
	if res.Compacted > 0 {
		s.log.Info().Str("job", JobCompact).Int("compacted", res.Compacted).Int("left", res.Skipped).Msg("closed RMAs compacted")
	}
	return err
}
