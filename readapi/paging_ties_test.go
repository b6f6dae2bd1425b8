package readapi_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/redistest"
)

// testClock is the commands' clock in the tie tests: it stands still
// until set, so commands that take their time from it (an opportunity's
// createdAt) share it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// openStore opens an embedded event store in a temporary directory.
func openStore(t *testing.T) *eventstore.Store {
	t.Helper()
	store, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// tieData is what seedTies wrote: the expected order of each list.
type tieData struct {
	customer      string
	timeline      []string // positions of the interactions, newest first
	orders        []string // order ids, newest first
	opportunities []string // ids, newest first
	services      []string // service request ids, newest first
	last          reply    // the last command
}

// tieTimes are the business times of the seeded items, in the order they
// are written: three of the nine share t1 (so do two and two more), and
// the ties are not written one after the other.
func tieTimes() []time.Time {
	base := time.Date(2011, 3, 1, 10, 0, 0, 0, time.UTC)
	t0, t1, t2 := base.Add(3*time.Hour), base.Add(2*time.Hour), base.Add(time.Hour)
	return []time.Time{t1, t0, t1, t2, t1, t0, t1, t2, t1}
}

// seedTies writes, for one customer, interactions, orders, opportunities
// and service requests of which five of nine share their time (score),
// through e, and returns the order each list must show.
func seedTies(t *testing.T, e *env, clock *testClock) tieData {
	t.Helper()
	var d tieData
	clock.set(time.Date(2011, 2, 1, 0, 0, 0, 0, time.UTC))
	d.customer, _ = e.register("admin", "Tie Holdings", "sales", nil)
	type item struct {
		key string
		at  time.Time
		pos uint64
	}
	var inter, ords, opps, srs []item
	for i, at := range tieTimes() {
		clock.set(at) // the command time: occurredAt may not be in its future, createdAt is it
		r := e.cmd(http.MethodPost, "/v1/customers/"+d.customer+"/interactions", "sales", map[string]any{
			"channel": "call", "occurredAt": at.Format(time.RFC3339), "summary": fmt.Sprintf("call %d", i)})
		pos, err := strconv.ParseUint(r.str("position"), 10, 64)
		if err != nil {
			t.Fatalf("interaction %d position %q: %v", i, r.str("position"), err)
		}
		inter = append(inter, item{key: r.str("position"), at: at, pos: pos})
		r = e.cmd(http.MethodPost, "/v1/orders", "admin", map[string]any{
			"customerId": d.customer, "orderNo": fmt.Sprintf("T-%d", i), "orderedAt": at.Format(time.RFC3339), "currency": "EUR",
			"lines": []map[string]any{{"sku": "S" + strconv.Itoa(i), "quantity": 1, "unitPrice": "10.00"}}})
		ords = append(ords, item{key: r.str("id"), at: at})
		r = e.cmd(http.MethodPost, "/v1/opportunities", "admin", map[string]any{"title": fmt.Sprintf("deal %d", i), "customerId": d.customer})
		opps = append(opps, item{key: r.str("id"), at: at})
		r = e.cmd(http.MethodPost, "/v1/service-requests", "admin", map[string]any{
			"customerId": d.customer, "type": "consultation", "title": fmt.Sprintf("question %d", i), "request": "How?"})
		srs = append(srs, item{key: r.str("id"), at: at})
		d.last = r
	}
	// Newest first; equal times: timeline items by position (their
	// member), the others by id (theirs), both descending.
	byPos := func(a, b item) int { return cmp.Or(b.at.Compare(a.at), cmp.Compare(b.pos, a.pos)) }
	byID := func(a, b item) int { return cmp.Or(b.at.Compare(a.at), strings.Compare(b.key, a.key)) }
	keysOf := func(its []item, order func(a, b item) int) []string {
		slices.SortFunc(its, order)
		out := make([]string, len(its))
		for i, it := range its {
			out[i] = it.key
		}
		return out
	}
	d.timeline, d.orders = keysOf(inter, byPos), keysOf(ords, byID)
	d.opportunities, d.services = keysOf(opps, byID), keysOf(srs, byID)
	return d
}

// tieLists are the lists of d to page through, with the field naming an
// item and the expected order.
func tieLists(d tieData) []struct {
	name, path, key string
	want            []string
} {
	return []struct {
		name, path, key string
		want            []string
	}{
		{"timeline", "/v1/customers/" + d.customer + "/timeline?kinds=interaction", "position", d.timeline},
		{"orders", "/v1/customers/" + d.customer + "/orders", "id", d.orders},
		{"opportunities", "/v1/opportunities", "id", d.opportunities},
		{"opportunities unassigned", "/v1/opportunities?status=unassigned", "id", d.opportunities},
		{"service requests", "/v1/service-requests", "id", d.services},
	}
}

// TestPagingEqualScores pages through lists whose items share their score
// (same occurredAt, orderedAt, createdAt: routine) across page
// boundaries: every item comes exactly once, in the list's order, at
// every page size.
func TestPagingEqualScores(t *testing.T) {
	clock := &testClock{}
	store := openStore(t)
	real := redistest.Start(t)
	e := newEnvOn(t, store, real.Client, real, clock.now)
	d := seedTies(t, e, clock)
	for _, l := range tieLists(d) {
		e.fresh(l.path, "admin", d.last)
	}
	for _, l := range tieLists(d) {
		for _, limit := range []int{1, 2, 3, 4, 200} {
			t.Run(fmt.Sprintf("%s limit %d", l.name, limit), func(t *testing.T) {
				got, pages := e.pageAll(withLimit(l.path, limit), "admin", l.key, func() {})
				if diff := gocmp.Diff(l.want, got); diff != "" {
					t.Errorf("items over %d pages (-want +got):\n%s", pages, diff)
				}
				if wantPages := (len(l.want) + limit - 1) / limit; pages != wantPages {
					t.Errorf("%d pages, want %d", pages, wantPages)
				}
			})
		}
	}
}

// withLimit adds limit to path's query.
func withLimit(path string, limit int) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "limit=" + strconv.Itoa(limit)
}
