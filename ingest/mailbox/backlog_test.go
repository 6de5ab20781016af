package mailbox

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/rmad/rmad/internal/testenv"
)

// backlogSink is a Sink with a Backlog: every delivered mail waits until the test works it off.
type backlogSink struct {
	*recSink
	limit int64

	mu       sync.Mutex
	waiting  int64
	overflow int64 // the most mails delivered beyond the limit (0: the watcher kept to it)
}

func (s *backlogSink) Deliver(ctx context.Context, m Mail) (Disposition, error) {
	s.mu.Lock()
	s.waiting++
	s.overflow = max(s.overflow, s.waiting-s.limit)
	s.mu.Unlock()
	return s.recSink.Deliver(ctx, m)
}

func (s *backlogSink) Backlog(context.Context) (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting, s.limit, nil
}

// work takes n waiting mails off the backlog (all when n < 0).
func (s *backlogSink) work(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 0 || n > s.waiting {
		n = s.waiting
	}
	s.waiting -= n
}

// A sink at its backlog limit stops the fetching; the mail stays in the mailbox, and the watcher
// resumes by itself once the backlog is down to half: every mail delivered once, and a mail
// appended afterwards is still picked up through IDLE.
func TestBacklogPausesAndResumes(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	const total, limit = 47, 6
	for i := range total {
		srv.appendMail("INBOX", mail(i, fmt.Sprintf("backlog %d", i), 300))
	}
	sink := &backlogSink{recSink: newSink(), limit: limit}
	w := newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, newCursor(), nil) // poll: 1 h
	w.batchCount = 4                                                               // the room is spent over several fetches
	run(t, w)

	testenv.Eventually(t, waitTimeout, "paused at the limit", func() bool {
		return w.State().Paused && len(sink.delivered()) == limit && srv.count("RMA/Processed") == limit
	})
	if n := srv.count("INBOX"); n != total-limit {
		t.Errorf("INBOX holds %d mails while paused, want %d", n, total-limit)
	}

	// Down to one over half: still paused. The watcher asks again every backlogCheck; a
	// wrong resume would show as a delivery after the next full state below.
	sink.work(limit/2 - 1)
	// Down to half: it resumes and fills the room (limit - half).
	sink.work(1)
	testenv.Eventually(t, waitTimeout, "resumed, then paused again", func() bool {
		return len(sink.delivered()) == limit+limit/2 && w.State().Paused
	})

	// Work everything off as it comes: all mails are delivered, each once.
	testenv.Eventually(t, waitTimeout, "all delivered", func() bool {
		sink.work(-1)
		return len(sink.delivered()) == total && srv.count("INBOX") == 0
	})
	seen := map[uint32]int{}
	for _, m := range sink.delivered() {
		seen[m.UID]++
	}
	for uid, n := range seen {
		if n != 1 {
			t.Errorf("uid %d delivered %d times", uid, n)
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct mails delivered, want %d", len(seen), total)
	}
	if sink.overflow > 0 {
		t.Errorf("up to %d mails delivered beyond the backlog limit", sink.overflow)
	}

	// Idle again, not paused: a new mail comes through IDLE (the poll interval is an hour).
	testenv.Eventually(t, waitTimeout, "idling, not paused", func() bool {
		st := w.State()
		return st.Idle && !st.Paused
	})
	uid := srv.appendMail("INBOX", mail(total, "after the backlog", 300))
	testenv.Eventually(t, waitTimeout, "the new mail delivered", func() bool {
		d := sink.delivered()
		return len(d) == total+1 && imap.UID(d[total].UID) == imap.UID(uid)
	})
}

// While paused, mail appended to the mailbox waits there with the rest; a connection lost
// meanwhile changes nothing (the next session starts paused too).
func TestBacklogPausedAcrossReconnect(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	const limit = 3
	for i := range 5 {
		srv.appendMail("INBOX", mail(i, "before", 300))
	}
	sink := &backlogSink{recSink: newSink(), limit: limit}
	w := newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, newCursor(), nil)
	run(t, w)
	testenv.Eventually(t, waitTimeout, "paused", func() bool {
		return w.State().Paused && srv.count("RMA/Processed") == limit
	})
	srv.appendMail("INBOX", mail(9, "while paused", 300))
	srv.dropConns()
	testenv.Eventually(t, waitTimeout, "reconnected, still paused", func() bool {
		st := w.State()
		return st.Connected && st.Paused && srv.accepted() >= 2
	})
	if n := len(sink.delivered()); n != limit {
		t.Errorf("%d mails delivered across the reconnect, want %d", n, limit)
	}
	testenv.Eventually(t, waitTimeout, "all delivered once worked off", func() bool {
		sink.work(-1)
		return len(sink.delivered()) == 6 && srv.count("INBOX") == 0
	})
	if sink.overflow > 0 {
		t.Errorf("up to %d mails delivered beyond the backlog limit", sink.overflow)
	}
}
