package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/store"
)

// row is one RMA on the worklist.
type row struct {
	Number, Partner, PartnerName, Brand, Model, Serial string
	Status                                             rma.Status
	Days                                               int
	Handling                                           rma.Handling
	Overdue                                            bool
	Unread                                             int // partner notes this staff member has not seen
	Link                                               string
}

type statusCount struct {
	Status rma.Status
	Count  int
	Link   string
	On     bool
}

type worklistData struct {
	Counts    []statusCount
	Rows      []row
	Total     int
	Filter    filter
	Partners  []rma.Partner
	Statuses  []rma.Status
	Handlings []rma.Handling
	Prev      string
	Next      string
	From, To  int
	Bulk      []bulkResult
	BulkError string
	// Unread are the RMAs with partner notes this staff member has not seen, newest first
	// (at most maxUnreadShown; UnreadCount is all of them).
	Unread      []unreadNote
	UnreadCount int
	UnreadLink  string // the worklist of the RMAs with unread partner notes only
}

type unreadNote struct {
	Number, Link string
	At           time.Time
}

// maxUnreadShown bounds the worklist's list of RMAs with unread partner notes.
const maxUnreadShown = 20

// filter is the worklist's query string.
type filter struct {
	Statuses []rma.Status
	Partner  string
	Brand    string
	Handling rma.Handling
	Overdue  bool
	Unread   bool // only RMAs with partner notes this staff member has not read
	Q        string
	Newest   bool
	Page     int
}

func (f filter) Has(st rma.Status) bool { return slices.Contains(f.Statuses, st) }

// Query is the filter's query string ("?..."), to come back to the same page.
func (f filter) Query() string { return strings.TrimPrefix(f.query(f.Page), "/console/") }

func (f filter) query(page int) string {
	q := url.Values{}
	for _, st := range f.Statuses {
		q.Add("status", string(st))
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("partner", f.Partner)
	set("brand", f.Brand)
	set("handling", string(f.Handling))
	set("q", f.Q)
	if f.Overdue {
		q.Set("overdue", "1")
	}
	if f.Unread {
		q.Set("unread", "1")
	}
	if f.Newest {
		q.Set("sort", "newest")
	}
	if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	if len(q) == 0 {
		return "/console/"
	}
	return "/console/?" + q.Encode()
}

var handlings = []rma.Handling{rma.HandlingInHouse, rma.HandlingVendorTicket, rma.HandlingForward}

// parseFilter reads the query; unknown values are dropped (a filter link is not a form).
func parseFilter(q url.Values) filter {
	var f filter
	for _, s := range q["status"] {
		if st, err := rma.ParseStatus(s); err == nil && !slices.Contains(f.Statuses, st) {
			f.Statuses = append(f.Statuses, st)
		}
	}
	f.Partner = strings.TrimSpace(q.Get("partner"))
	f.Brand = clip(strings.TrimSpace(q.Get("brand")), 100)
	if h := rma.Handling(q.Get("handling")); slices.Contains(handlings, h) {
		f.Handling = h
	}
	f.Overdue = q.Get("overdue") != ""
	f.Unread = q.Get("unread") != ""
	f.Q = clip(strings.TrimSpace(q.Get("q")), maxCodeLen)
	f.Newest = q.Get("sort") == "newest"
	f.Page, _ = strconv.Atoi(q.Get("page"))
	f.Page = max(f.Page, 1)
	return f
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// overdueQuery makes q keep only the RMAs past a scheduled rule's threshold (rules.Overdue):
// repaired and replaced ones only when they wait at our service to be collected.
func (c *Console) overdueQuery(q *store.WorklistQuery) {
	q.OverdueAfter = rules.OverdueAfter(c.cfg.Policy)
	var never []rma.Handling
	for _, h := range []rma.Handling{rma.HandlingInHouse, rma.HandlingVendorTicket, rma.HandlingForward, rma.HandlingVendorDirect} {
		if !rules.WaitsForCollection(h) {
			never = append(never, h)
		}
	}
	q.OverdueExcept = map[rma.Status][]rma.Handling{rma.StatusRepaired: never, rma.StatusReplaced: never}
}

func (c *Console) rowOf(r rma.Record, now time.Time) row {
	since := store.StatusSince(r)
	d := r.Decision
	rw := row{Number: r.Number, Partner: r.PartnerID, Serial: d.Item.Serial, Status: r.Status,
		Days: int(now.Sub(since) / (24 * time.Hour)), Handling: d.Route.Handling, Link: rmaLink(r.Number)}
	if p, ok := c.cfg.Partner(r.PartnerID); ok {
		rw.PartnerName = p.Name
	}
	if d.Product != nil {
		rw.Brand, rw.Model = d.Product.Brand, d.Product.Model
	}
	rw.Overdue = rules.Overdue(r, c.cfg.Policy, now)
	return rw
}

func rmaLink(number string) string {
	n, err := rma.ParseNumber(number)
	if err != nil {
		return "/console/"
	}
	return "/console/rmas/" + strconv.Itoa(n.Year) + "/" + strconv.Itoa(n.N)
}

// worklist serves GET /console/.
func (c *Console) worklist(w http.ResponseWriter, r *http.Request, v *view) {
	c.renderWorklist(w, r, v, http.StatusOK, nil, "")
}

func (c *Console) renderWorklist(w http.ResponseWriter, r *http.Request, v *view, status int, bulk []bulkResult, bulkErr string) {
	ctx := r.Context()
	f := parseFilter(r.URL.Query())
	now := c.cfg.Now()
	data := worklistData{Filter: f, Partners: c.cfg.Partners(), Statuses: rma.AllStatuses, Handlings: handlings,
		Bulk: bulk, BulkError: bulkErr}

	counts, err := c.cfg.Store.StatusCounts(ctx)
	if err != nil {
		c.unavailable(w, v, err)
		return
	}
	for _, st := range rma.AllStatuses {
		data.Counts = append(data.Counts, statusCount{Status: st, Count: counts[st],
			Link: filter{Statuses: []rma.Status{st}}.query(1), On: len(f.Statuses) == 1 && f.Statuses[0] == st})
	}

	unread, err := c.cfg.Store.UnreadNotes(ctx, v.User.Username, now)
	if err != nil {
		c.unavailable(w, v, err)
		return
	}
	var recs []rma.Record
	switch {
	case f.Q != "" || f.Unread:
		// Both candidate sets are small (a search's matches; the partner notes of the last
		// NotesWindow a user has not opened): filtered here, not through the indexes.
		if f.Q != "" {
			recs, err = c.search(r, f, now, unread)
		} else {
			recs, err = c.unreadOnly(r, f, now, unread)
		}
		data.Total = len(recs)
		start := min((f.Page-1)*pageSize, len(recs))
		recs = recs[start:min(start+pageSize, len(recs))]
	default:
		q := store.WorklistQuery{Statuses: f.Statuses, Partner: f.Partner, Brand: f.Brand, Handling: f.Handling,
			Now: now, Newest: f.Newest, Offset: (f.Page - 1) * pageSize, Limit: pageSize}
		if f.Overdue {
			c.overdueQuery(&q)
		}
		var page store.WorklistPage
		page, err = c.cfg.Store.Worklist(ctx, q)
		recs, data.Total = page.Records, page.Total
	}
	if err != nil {
		c.unavailable(w, v, err)
		return
	}
	var shown []string
	for _, rec := range recs {
		if _, ok := unread[rec.Number]; ok {
			shown = append(shown, rec.Number)
		}
	}
	seen, err := c.cfg.Store.LastSeen(ctx, v.User.Username, shown)
	if err != nil {
		c.unavailable(w, v, err)
		return
	}
	for _, rec := range recs {
		rw := c.rowOf(rec, now)
		if _, ok := unread[rec.Number]; ok {
			rw.Unread = unreadSince(rec, seen[rec.Number])
		}
		data.Rows = append(data.Rows, rw)
	}
	data.UnreadCount = len(unread)
	data.UnreadLink = filter{Unread: true}.query(1)
	for n, at := range unread {
		data.Unread = append(data.Unread, unreadNote{Number: n, Link: rmaLink(n), At: at})
	}
	slices.SortFunc(data.Unread, func(a, b unreadNote) int { return b.At.Compare(a.At) })
	data.Unread = data.Unread[:min(len(data.Unread), maxUnreadShown)]
	data.From = (f.Page-1)*pageSize + 1
	data.To = data.From + len(data.Rows) - 1
	if f.Page > 1 {
		data.Prev = f.query(f.Page - 1)
	}
	if f.Page*pageSize < data.Total {
		data.Next = f.query(f.Page + 1)
	}
	v.Title = c.wordIn(v.Locale, "nav.worklist")
	v.Data = data
	c.render(w, status, "worklist", v, "")
}

// search finds RMAs by number, serial, own number or tracking, then applies the other
// filters; across partners, as staff see every partner's RMAs.
func (c *Console) search(r *http.Request, f filter, now time.Time, unread map[string]time.Time) ([]rma.Record, error) {
	ctx := r.Context()
	found, err := c.cfg.Store.Lookup(ctx, f.Partner, f.Q)
	if err != nil {
		return nil, err
	}
	byTrk, err := c.cfg.Store.ByTracking(ctx, f.Q)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []rma.Record
	for _, rec := range append(found, byTrk...) {
		if seen[rec.Number] {
			continue
		}
		seen[rec.Number] = true
		if c.matches(rec, f, now, unread) {
			out = append(out, rec)
		}
	}
	return out, nil
}

// unreadOnly is the RMAs with partner notes the staff member has not read that pass the
// other filters, oldest in their status first (newest first with sort=newest), as the
// worklist sorts.
func (c *Console) unreadOnly(r *http.Request, f filter, now time.Time, unread map[string]time.Time) ([]rma.Record, error) {
	numbers := make([]string, 0, len(unread))
	for n := range unread {
		numbers = append(numbers, n)
	}
	recs, err := c.cfg.Store.GetMany(r.Context(), numbers)
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, rec := range recs {
		if c.matches(rec, f, now, unread) {
			out = append(out, rec)
		}
	}
	slices.SortFunc(out, func(a, b rma.Record) int {
		d := store.StatusSince(a).Compare(store.StatusSince(b))
		if d == 0 {
			d = strings.Compare(a.Number, b.Number)
		}
		if f.Newest {
			return -d
		}
		return d
	})
	return out, nil
}

// matches reports whether rec passes the filters other than the search text.
func (c *Console) matches(rec rma.Record, f filter, now time.Time, unread map[string]time.Time) bool {
	d := rec.Decision
	brand := ""
	if d.Product != nil {
		brand = d.Product.Brand
	}
	_, isUnread := unread[rec.Number]
	switch {
	case f.Partner != "" && rec.PartnerID != f.Partner,
		len(f.Statuses) > 0 && !slices.Contains(f.Statuses, rec.Status),
		f.Brand != "" && !strings.EqualFold(brand, f.Brand),
		f.Handling != "" && d.Route.Handling != f.Handling,
		f.Overdue && !c.rowOf(rec, now).Overdue,
		f.Unread && !isUnread:
		return false
	}
	return true
}

// unreadSince counts rec's partner notes after the staff member's last look (zero: never
// opened); at least one, as the notes index said there is one.
func unreadSince(rec rma.Record, last time.Time) int {
	n := 0
	for _, ev := range rec.History {
		if ev.FromPartner() && ev.At.After(last) {
			n++
		}
	}
	return max(n, 1)
}

func (c *Console) unavailable(w http.ResponseWriter, v *view, err error) {
	if errors.Is(err, store.ErrNotFound) {
		c.render(w, http.StatusNotFound, "error", v, "error.not_found")
		return
	}
	c.log.Error().Err(err).Str("user", v.User.Username).Msg("console: store")
	c.render(w, http.StatusServiceUnavailable, "error", v, "error.unavailable")
}
