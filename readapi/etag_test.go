package readapi_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crm-es/crm/projections/readmodels"
)

// TestETags: the customer 360 and the timeline answer 304 to a matching
// If-None-Match until something that changes them happens.
func TestETags(t *testing.T) {
	e := newEnv(t)
	cid, reg := e.register("admin", "Tagged Inc", "sales", nil)
	other, _ := e.register("admin", "Other Ltd", "sales", nil)
	tests := []struct {
		name    string
		path    string
		change  func() reply // a command that changes the answer
		neutral func() reply // a command that does not
	}{
		{name: "customer 360", path: "/v1/customers/" + cid,
			change: func() reply {
				return e.cmd(http.MethodPost, "/v1/customers/"+cid+"/credit", "admin", map[string]any{"credit": 4})
			},
			neutral: func() reply {
				return e.cmd(http.MethodPost, "/v1/customers/"+other+"/credit", "admin", map[string]any{"credit": 2})
			}},
		{name: "timeline", path: "/v1/customers/" + cid + "/timeline?limit=5",
			change: func() reply {
				return e.cmd(http.MethodPost, "/v1/customers/"+cid+"/interactions", "sales", map[string]any{
					"channel": "call", "occurredAt": "2011-02-03T04:05:06Z", "summary": "old call"})
			},
			neutral: func() reply {
				return e.cmd(http.MethodPost, "/v1/customers/"+other+"/interactions", "sales", map[string]any{
					"channel": "call", "occurredAt": "2011-02-03T04:05:06Z", "summary": "other call"})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := e.fresh(tt.path, "sales", reg)
			tag := first.header.Get("ETag")
			if tag == "" || !strings.HasPrefix(tag, `"`) {
				t.Fatalf("ETag %q", tag)
			}
			for _, inm := range []string{tag, "W/" + tag, `"nope", ` + tag, "*"} {
				r := e.get(tt.path, "sales", "If-None-Match", inm)
				if r.status != http.StatusNotModified || len(r.raw) != 0 || r.header.Get("ETag") != tag || r.header.Get("X-Projection-Position") == "" {
					t.Errorf("If-None-Match %s: %d %v %s", inm, r.status, r.header, r.raw)
				}
			}
			if r := e.get(tt.path, "sales", "If-None-Match", `"stale"`); r.status != http.StatusOK || r.header.Get("ETag") != tag {
				t.Errorf("If-None-Match \"stale\": %d, ETag %s", r.status, r.header.Get("ETag"))
			}
			n := tt.neutral()
			if r := e.get(tt.path, "sales", "If-None-Match", tag, "X-Min-Position", n.str("position")); r.status != http.StatusNotModified {
				t.Errorf("after an unrelated command: %d %s", r.status, r.raw)
			}
			c := tt.change()
			r := e.get(tt.path, "sales", "If-None-Match", tag, "X-Min-Position", c.str("position"))
			if r.status != http.StatusOK || r.header.Get("ETag") == tag || r.header.Get("ETag") == "" {
				t.Errorf("after a change: %d ETag %s (was %s)", r.status, r.header.Get("ETag"), tag)
			}
			if r2 := e.get(tt.path, "sales", "If-None-Match", r.header.Get("ETag")); r2.status != http.StatusNotModified {
				t.Errorf("new ETag: %d", r2.status)
			}
		})
	}
	// The timeline's ETag depends on the page asked for.
	a := e.get("/v1/customers/"+cid+"/timeline?limit=5", "sales").header.Get("ETag")
	b := e.get("/v1/customers/"+cid+"/timeline?limit=6", "sales").header.Get("ETag")
	if a == b {
		t.Errorf("limit 5 and 6 share ETag %s", a)
	}
}

// TestRebuildWhileServing: queries keep answering from the old generation
// while a rebuild runs and switch to the new one without an error.
func TestRebuildWhileServing(t *testing.T) {
	e := newEnv(t)
	var ids []string
	var last reply
	for i := range 40 {
		var id string
		id, last = e.register("admin", "Customer "+string(rune('A'+i%26))+string(rune('a'+i/26)), "sales", nil)
		ids = append(ids, id)
		last = e.cmd(http.MethodPost, "/v1/customers/"+id+"/interactions", "sales", map[string]any{
			"channel": "call", "occurredAt": "2011-02-03T04:05:06Z", "summary": "call"})
	}
	e.fresh("/v1/customers?limit=1", "admin", last)
	e.fresh("/v1/customers/"+ids[39]+"/timeline", "admin", last)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var requests, failures atomic.Int64
	var failMu sync.Mutex
	var firstFailure string
	check := func(path string, ok func(r reply) bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				r, err := e.tryGet(path, "admin")
				requests.Add(1)
				if err != nil || r.status != http.StatusOK || !ok(r) {
					failures.Add(1)
					failMu.Lock()
					if firstFailure == "" {
						firstFailure = path + ": " + string(r.raw)
						if err != nil {
							firstFailure += err.Error()
						}
					}
					failMu.Unlock()
				}
			}
		}()
	}
	check("/v1/customers/"+ids[7], func(r reply) bool { return r.str("id") == ids[7] })
	check("/v1/customers?limit=200", func(r reply) bool { return len(r.items()) == 40 })
	check("/v1/customers/"+ids[3]+"/timeline", func(r reply) bool { return len(r.items()) == 2 })

	time.Sleep(20 * time.Millisecond)
	for _, name := range []string{"customers", "timeline"} {
		if r := e.do(http.MethodPost, "/v1/projections/"+name+"/rebuild", "admin", nil); r.status != http.StatusAccepted {
			t.Fatalf("rebuild %s: %d %s", name, r.status, r.raw)
		}
	}
	// Wait for both switches and the old generations' deletion.
	deadline := time.Now().Add(30 * time.Second)
	for {
		sts, _ := e.rt.Status(context.Background())
		done := 0
		for _, s := range sts {
			if (s.Name == "customers" || s.Name == "timeline") && s.Active == "v"+strconv.Itoa(s.Version)+"-r1" && s.Building == "" {
				done++
			}
		}
		old, _ := e.redis.Client.Keys(context.Background(), "crm:customers:v"+strconv.Itoa(readmodels.Customers{}.Version())+":*").Result()
		if done == 2 && len(old) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rebuild did not finish: %+v", sts)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d of %d queries failed during the rebuild; first: %s", failures.Load(), requests.Load(), firstFailure)
	}
	t.Logf("%d queries during the rebuild, all answered correctly", requests.Load())
}
