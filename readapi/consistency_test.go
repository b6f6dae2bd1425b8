package readapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReadYourWrites: 200 sequential command-then-query pairs, each query
// carrying the command's position (header or ?minPosition=), never see
// stale data.
func TestReadYourWrites(t *testing.T) {
	e := newEnv(t)
	cid, _ := e.register("admin", "Fresh Foods", "sales", nil)
	var orders []string
	interactions, stale := 0, 0
	for i := range 200 {
		var cmd reply
		var path string
		var check func(r reply) error
		switch i % 5 {
		case 0:
			cmd = e.cmd(http.MethodPost, "/v1/customers/"+cid+"/interactions", "sales", map[string]any{
				"channel": "call", "occurredAt": time.Now().UTC().Format(time.RFC3339Nano), "summary": fmt.Sprintf("call %d", i)})
			interactions++
			want := interactions
			path = "/v1/customers/" + cid
			check = func(r reply) error {
				if got := r.body["kpis"].(map[string]any)["interactions"]; got != float64(want) {
					return fmt.Errorf("interactions %v, want %d", got, want)
				}
				return nil
			}
		case 1:
			level := 1 + i%5
			if level == 2 {
				level = 4
			}
			cmd = e.cmd(http.MethodPost, "/v1/customers/"+cid+"/level", "admin", map[string]any{"level": level})
			path = "/v1/customers/" + cid
			check = func(r reply) error {
				if r.body["level"] != float64(level) {
					return fmt.Errorf("level %v, want %d", r.body["level"], level)
				}
				return nil
			}
		case 2:
			cmd = e.cmd(http.MethodPost, "/v1/orders", "sales", map[string]any{"customerId": cid, "currency": "GBP",
				"lines": []map[string]any{{"sku": "S" + strconv.Itoa(i), "quantity": 1, "unitPrice": "1.00"}}})
			orders = append(orders, cmd.str("id"))
			want := cmd.str("id")
			path = "/v1/customers/" + cid + "/orders?limit=1"
			check = func(r reply) error {
				if its := r.items(); len(its) != 1 || its[0]["id"] != want {
					return fmt.Errorf("newest order %v, want %s", its, want)
				}
				return nil
			}
		case 3:
			cmd = e.cmd(http.MethodPost, "/v1/service-requests", "sales", map[string]any{"customerId": cid, "type": "consultation",
				"title": "Q" + strconv.Itoa(i), "request": "?"})
			path = "/v1/service-requests/" + cmd.str("id")
			check = func(r reply) error { return nil } // 200 is the check: absent would be 404
		case 4:
			cmd = e.cmd(http.MethodPost, "/v1/customers/"+cid+"/interactions", "sales", map[string]any{
				"channel": "email", "occurredAt": time.Now().UTC().Format(time.RFC3339Nano), "summary": fmt.Sprintf("mail %d", i)})
			interactions++
			want := fmt.Sprintf("email: mail %d", i)
			path = "/v1/customers/" + cid + "/timeline?limit=1&kinds=interaction"
			check = func(r reply) error {
				if its := r.items(); len(its) != 1 || its[0]["summary"] != want {
					return fmt.Errorf("newest interaction %v, want %q", its, want)
				}
				return nil
			}
		}
		pos := cmd.str("position")
		// The same query without X-Min-Position, for contrast: it may see
		// the state before the command.
		if plain := e.get(path, "sales"); plain.status != http.StatusOK || check(plain) != nil {
			stale++
		}
		var r reply
		if i%2 == 0 {
			r = e.get(path, "sales", "X-Min-Position", pos)
		} else {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			r = e.get(path+sep+"minPosition="+pos, "sales")
		}
		if r.status != http.StatusOK {
			t.Fatalf("pair %d: GET %s after position %s: %d %s", i, path, pos, r.status, r.raw)
		}
		if err := check(r); err != nil {
			t.Fatalf("pair %d: GET %s after position %s: stale: %v", i, path, pos, err)
		}
		want, _ := strconv.ParseUint(pos, 10, 64)
		if got := position(t, r); got < want {
			t.Fatalf("pair %d: X-Projection-Position %d < %d", i, got, want)
		}
	}
	t.Logf("without X-Min-Position, %d of 200 queries right after their command were stale or missing", stale)
	if len(orders) != 40 {
		t.Fatalf("%d orders", len(orders))
	}
}

// TestMinPositionBeyondHead: 503 with Retry-After after the wait timeout,
// naming the lagging projection; bad consistency headers are 400.
func TestMinPositionBeyondHead(t *testing.T) {
	e := newEnv(t)
	cid, reg := e.register("admin", "Far Future", "sales", nil)
	head, _ := strconv.ParseUint(reg.str("position"), 10, 64)
	beyond := strconv.FormatUint(head+1000, 10)
	tests := []struct {
		name    string
		path    string
		headers []string
		wait    time.Duration
		lagging string
		status  int
		fields  []string
	}{
		{name: "header, explicit timeout", path: "/v1/customers/" + cid, headers: []string{"X-Min-Position", beyond, "X-Wait-Timeout", "300ms"},
			wait: 300 * time.Millisecond, lagging: "customers", status: 503},
		{name: "query, default timeout", path: "/v1/customers/" + cid + "/timeline?minPosition=" + beyond,
			wait: 2 * time.Second, lagging: "customers", status: 503},
		{name: "pipeline", path: "/v1/dashboards/pipeline?minPosition=" + beyond, headers: []string{"X-Wait-Timeout", "100ms"},
			wait: 100 * time.Millisecond, lagging: "opportunities", status: 503},
		{name: "zero timeout", path: "/v1/reports/composition", headers: []string{"X-Min-Position", beyond, "X-Wait-Timeout", "0s"},
			lagging: "reports", status: 503},
		{name: "bad duration", path: "/v1/customers", headers: []string{"X-Wait-Timeout", "2 seconds"}, status: 400, fields: []string{"X-Wait-Timeout"}},
		{name: "too long", path: "/v1/customers", headers: []string{"X-Wait-Timeout", "11s"}, status: 400, fields: []string{"X-Wait-Timeout"}},
		{name: "negative", path: "/v1/customers", headers: []string{"X-Wait-Timeout", "-1s"}, status: 400, fields: []string{"X-Wait-Timeout"}},
		{name: "bad position", path: "/v1/customers", headers: []string{"X-Min-Position", "0x10"}, status: 400, fields: []string{"X-Min-Position"}},
		{name: "bad query position", path: "/v1/customers?minPosition=-3", status: 400, fields: []string{"minPosition"}},
		{name: "reached", path: "/v1/customers?minPosition=" + reg.str("position"), headers: []string{"X-Wait-Timeout", "10s"}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r := e.get(tt.path, "admin", tt.headers...)
			took := time.Since(start)
			if r.status != tt.status {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			switch tt.status {
			case 503:
				if took < tt.wait {
					t.Errorf("answered after %v, before the %v wait", took, tt.wait)
				}
				if r.header.Get("X-Projection-Position") == "" {
					t.Errorf("503 without X-Projection-Position")
				}
				if r.header.Get("Retry-After") == "" || r.body["status"] != float64(503) ||
					!strings.Contains(r.str("detail"), "projection "+tt.lagging+" ") {
					t.Errorf("503 without Retry-After or the lagging projection %s: %v %s", tt.lagging, r.header, r.raw)
				}
			case 400:
				if diff := cmp.Diff(tt.fields, r.fields()); diff != "" {
					t.Errorf("fields (-want +got):\n%s", diff)
				}
			case 200:
				if position(t, r) < head {
					t.Errorf("X-Projection-Position %d < %d", position(t, r), head)
				}
			}
		})
	}
}
