package readapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// post sends a command without failing the test (for writer goroutines).
func (e *env) post(path, user string, body any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+keyOf(user))
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("POST %s: %d", path, resp.StatusCode)
	}
	return nil
}

// pages follows nextCursor from path (which has a query) as user until
// the last page and returns every page; between runs after each page that
// has a next one.
func (e *env) pages(path, user string, between func()) []reply {
	e.t.Helper()
	var out []reply
	cur := ""
	for {
		p := path
		if cur != "" {
			p += "&cursor=" + url.QueryEscape(cur)
		}
		r := e.get(p, user)
		if r.status != http.StatusOK {
			e.t.Fatalf("GET %s: %d %s", p, r.status, r.raw)
		}
		out = append(out, r)
		next, _ := r.body["nextCursor"].(string)
		if next == "" {
			return out
		}
		cur = next
		between()
		if len(out) > 10_000 {
			e.t.Fatal("paging does not end")
		}
	}
}

// pageAll follows nextCursor from path until the last page and returns
// the key field of every item, in order, and the number of pages.
func (e *env) pageAll(path, user, key string, between func()) ([]string, int) {
	e.t.Helper()
	pages := e.pages(path, user, between)
	var out []string
	for _, r := range pages {
		for _, it := range r.items() {
			s, _ := it[key].(string)
			out = append(out, s)
		}
	}
	return out, len(pages)
}

// TestPagingWhileWriting pages through lists while other clients write:
// every item present throughout (and unchanged) is returned exactly once,
// and no item twice.
func TestPagingWhileWriting(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		const letters = "abcdefghijklmnopqrstuvwxyz"
		b := make([]byte, 6)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	level2 := map[string]bool{}
	var customers []string
	for i := range 90 {
		level := 1 + i%2
		id, _ := e.register("admin", word()+" "+word(), "sales", map[string]any{"level": level})
		customers = append(customers, id)
		if level == 2 {
			level2[id] = true
		}
	}
	owner := customers[0]
	base := time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)
	var last reply
	for i := range 120 {
		last = e.cmd(http.MethodPost, "/v1/customers/"+owner+"/interactions", "sales", map[string]any{
			"channel": "visit", "occurredAt": base.Add(time.Duration(rng.IntN(300*24)) * time.Hour).Format(time.RFC3339),
			"summary": fmt.Sprintf("seeded %d", i)})
	}
	var opps []string
	for i := range 60 {
		last = e.cmd(http.MethodPost, "/v1/opportunities", "admin", map[string]any{"title": fmt.Sprintf("deal %d", i), "customerId": customers[i%len(customers)]})
		opps = append(opps, last.str("id"))
	}
	e.fresh("/v1/customers?limit=1", "admin", last)
	e.fresh("/v1/opportunities?limit=1", "admin", last)
	tl := e.fresh("/v1/customers/"+owner+"/timeline?limit=200&kinds=interaction", "admin", last)
	var seededItems []string
	for _, it := range tl.items() {
		seededItems = append(seededItems, it["position"].(string))
	}
	if len(seededItems) != 120 {
		t.Fatalf("%d seeded timeline items", len(seededItems))
	}

	// Writers: new customers (names anywhere in the order), interactions
	// (occurred anywhere in the seeded range, so newer and older than the
	// page being read) and opportunities.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	writer := func(f func(i int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var mu sync.Mutex
	wrng := rand.New(rand.NewPCG(3, 4))
	rnd := func(n int) int { mu.Lock(); defer mu.Unlock(); return wrng.IntN(n) }
	writer(func(i int) error {
		return e.post("/v1/customers", "admin", map[string]any{"name": fmt.Sprintf("%c new %d", 'a'+rune(rnd(26)), i), "ownerId": "sales", "level": 1 + i%2})
	})
	writer(func(i int) error {
		return e.post("/v1/customers/"+owner+"/interactions", "sales", map[string]any{"channel": "call",
			"occurredAt": base.Add(time.Duration(rnd(300*24)) * time.Hour).Format(time.RFC3339), "summary": fmt.Sprintf("concurrent %d", i)})
	})
	writer(func(i int) error {
		return e.post("/v1/opportunities", "admin", map[string]any{"title": fmt.Sprintf("new deal %d", i), "customerId": customers[rnd(len(customers))]})
	})
	pause := func() { time.Sleep(3 * time.Millisecond) }
	time.Sleep(50 * time.Millisecond) // let the writers get going

	tests := []struct {
		name   string
		path   string
		key    string
		seeded []string
	}{
		{"customers", "/v1/customers?limit=7", "id", customers},
		{"customers at level 2", "/v1/customers?limit=5&level=2", "id", keys(level2)},
		{"timeline", "/v1/customers/" + owner + "/timeline?limit=9&kinds=interaction", "position", seededItems},
		{"opportunities", "/v1/opportunities?limit=6", "id", opps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pages := e.pageAll(tt.path, "admin", tt.key, pause)
			seen := map[string]int{}
			for _, id := range got {
				seen[id]++
				if seen[id] == 2 {
					t.Errorf("%s returned twice", id)
				}
			}
			missing := 0
			for _, id := range tt.seeded {
				if seen[id] == 0 {
					missing++
				}
			}
			if missing > 0 {
				t.Errorf("%d of %d seeded items missing", missing, len(tt.seeded))
			}
			t.Logf("%d pages, %d items (%d seeded, %d written meanwhile)", pages, len(got), len(tt.seeded), len(got)-len(tt.seeded))
		})
	}
	cancel()
	wg.Wait()
	all, _ := e.pageAll("/v1/customers?limit=200", "admin", "id", func() {})
	t.Logf("customers at the end: %d", len(all))
	close(errs)
	for err := range errs {
		if !strings.Contains(err.Error(), "context canceled") {
			t.Error(err)
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
