package writeapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/crm-es/crm/writeapi"
	"github.com/google/uuid"
)

// step is one command of the happy-path walk: it must answer status and
// leave the event type last on the stream (the reply's stream).
type step struct {
	method, path string
	body         any
	status       int
	lastType     string
	save         string // remember the reply's id under this name
}

func TestEveryEndpointHappyPath(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	saved := map[string]string{}
	run := func(steps []step) {
		t.Helper()
		for _, s := range steps {
			path := s.path
			for k, v := range saved {
				path = strings.ReplaceAll(path, "{"+k+"}", v)
			}
			var body any
			if s.body != nil {
				j, _ := json.Marshal(s.body)
				str := string(j)
				for k, v := range saved {
					str = strings.ReplaceAll(str, "{"+k+"}", v)
				}
				body = str
			}
			r := e.must(s.status, s.method, path, "admin", body)
			if s.save != "" {
				saved[s.save] = r.str("id")
			}
			stream := r.str("stream")
			evs := e.stream(stream)
			if len(evs) == 0 {
				t.Fatalf("%s %s: stream %q is empty", s.method, path, stream)
			}
			last := evs[len(evs)-1]
			if last.Type != s.lastType {
				t.Errorf("%s %s: last event %s, want %s", s.method, path, last.Type, s.lastType)
			}
			if r.revision() != int64(last.Revision) || r.str("position") != strconv.FormatUint(last.Position, 10) {
				t.Errorf("%s %s: reply %s, last event at %d/%d", s.method, path, r.raw, last.Revision, last.Position)
			}
			if got := r.header.Get("X-Event-Position"); got != r.str("position") {
				t.Errorf("%s %s: X-Event-Position %q, body position %q", s.method, path, got, r.str("position"))
			}
			if last.Metadata.Actor != "admin" {
				t.Errorf("%s %s: actor %q", s.method, path, last.Metadata.Actor)
			}
		}
	}

	run([]step{
		{"POST", "/customers", map[string]any{"name": "ACME Ltd", "region": "United Kingdom", "level": 2, "phone": "+44 1"}, 201, "CustomerRegistered", "c"},
		{"PATCH", "/customers/{c}", map[string]any{"industry": "retail", "website": "https://acme.example"}, 200, "CustomerProfileChanged", ""},
		{"POST", "/customers/{c}/level", map[string]any{"level": 3}, 200, "CustomerLevelChanged", ""},
		{"POST", "/customers/{c}/credit", map[string]any{"credit": 4}, 200, "CustomerCreditRated", ""},
		{"POST", "/customers/{c}/satisfaction", map[string]any{"satisfaction": 5}, 200, "CustomerSatisfactionRated", ""},
		{"POST", "/customers/{c}/owner", map[string]any{"ownerId": "sales"}, 200, "CustomerOwnerAssigned", ""},
		{"POST", "/customers/{c}/contacts", map[string]any{"name": "Ann Smith", "email": "ann@acme.example"}, 201, "ContactAdded", "contact"},
		{"PATCH", "/customers/{c}/contacts/{contact}", map[string]any{"phone": "123"}, 200, "ContactChanged", ""},
		{"POST", "/customers/{c}/interactions", map[string]any{"channel": "visit", "occurredAt": "2026-01-02T10:00:00Z", "summary": "visited", "contactId": "{contact}"}, 201, "InteractionLogged", ""},
		{"DELETE", "/customers/{c}/contacts/{contact}", nil, 200, "ContactRemoved", ""},
	})
	cid := uuid.MustParse(saved["c"])
	if _, err := e.cmds.RaiseChurnWarning(ctx, commands.Options{Actor: commands.Actor{UserID: "churn-detector"}}, cid, domain.ChurnWarning{Why: "rule"}); err != nil {
		t.Fatal(err)
	}
	run([]step{
		{"POST", "/customers/{c}/churn/defer", map[string]any{"measure": "call the CEO"}, 200, "ChurnDeferred", ""},
		{"POST", "/customers/{c}/churn/confirm", map[string]any{"reason": "moved to a competitor"}, 200, "ChurnConfirmed", ""},
		{"POST", "/customers/{c}/reactivate", map[string]any{"reason": "came back"}, 200, "CustomerReactivated", ""},

		{"POST", "/opportunities", map[string]any{"title": "Big deal", "customerId": saved["c"], "successRate": 20, "expectedValue": "1000.00", "currency": "EUR"}, 201, "OpportunityCreated", "o"},
		{"PATCH", "/opportunities/{o}", map[string]any{"successRate": 50}, 200, "OpportunityChanged", ""},
		{"POST", "/opportunities/{o}/assign", map[string]any{"assigneeId": "sales"}, 200, "OpportunityAssigned", ""},
		{"POST", "/opportunities/{o}/plan-items", map[string]any{"dueDate": "2026-12-01", "action": "send offer"}, 201, "PlanItemAdded", "item"},
		{"PATCH", "/opportunities/{o}/plan-items/{item}", map[string]any{"action": "send the offer"}, 200, "PlanItemChanged", ""},
		{"POST", "/opportunities/{o}/plan-items/{item}/result", map[string]any{"result": "offer accepted"}, 200, "PlanItemResultRecorded", ""},
		{"POST", "/opportunities/{o}/win", map[string]any{"amount": "900.00"}, 200, "OpportunityWon", ""},
		{"POST", "/opportunities", map[string]any{"title": "Small deal", "customerId": saved["c"]}, 201, "OpportunityCreated", "o2"},
		{"POST", "/opportunities/{o2}/lose", map[string]any{"reason": "price"}, 200, "OpportunityLost", ""},

		{"POST", "/service-requests", map[string]any{"customerId": saved["c"], "type": "complaint", "title": "Late", "request": "the delivery was late", "channel": "call"}, 201, "ServiceRequestOpened", "s"},
		{"POST", "/service-requests/{s}/assign", map[string]any{"assigneeId": "service"}, 200, "ServiceRequestAssigned", ""},
		{"POST", "/service-requests/{s}/handle", map[string]any{"handling": "apologised, voucher"}, 200, "ServiceRequestHandled", ""},
		{"POST", "/service-requests/{s}/feedback", map[string]any{"result": "still unhappy", "satisfaction": 2}, 200, "ServiceRequestReopened", ""},

		{"POST", "/orders", map[string]any{"customerId": saved["c"], "orderNo": "536365", "orderedAt": "2026-01-03T08:26:00Z", "currency": "GBP",
			"lines": []any{map[string]any{"sku": "85123A", "description": "WHITE HANGING HEART", "quantity": 6, "unitPrice": "2.55"}}}, 201, "OrderPlaced", "order"},
		{"POST", "/orders/{order}/ship", map[string]any{"carrier": "DHL", "trackingNo": "X1"}, 200, "OrderShipped", ""},
		{"POST", "/orders/{order}/deliver", map[string]any{"deliveredAt": "2026-01-05T12:00:00Z"}, 200, "OrderDelivered", ""},
		{"POST", "/orders/{order}/payments", map[string]any{"amount": "15.30"}, 200, "PaymentReceived", ""},
		{"POST", "/orders/{order}/returns", map[string]any{"lines": []any{map[string]any{"sku": "85123A", "quantity": "1"}}, "reason": "broken"}, 200, "OrderReturned", ""},
		{"POST", "/orders", map[string]any{"customerId": saved["c"], "currency": "GBP", "lines": []any{map[string]any{"sku": "A", "quantity": "1", "unitPrice": "1"}}}, 201, "OrderPlaced", "order2"},
		{"POST", "/orders/{order2}/cancel", map[string]any{"reason": "customer changed their mind"}, 200, "OrderCancelled", ""},
	})

	// Business time: the interaction's and the order's occurredAt.
	for _, ev := range e.stream("customer-" + saved["c"]) {
		if ev.Type == "InteractionLogged" && !ev.Metadata.OccurredAt.Equal(time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)) {
			t.Errorf("interaction occurredAt %v", ev.Metadata.OccurredAt)
		}
	}
	if ev := e.stream("order-" + saved["order"])[0]; !ev.Metadata.OccurredAt.Equal(time.Date(2026, 1, 3, 8, 26, 0, 0, time.UTC)) {
		t.Errorf("order occurredAt %v", ev.Metadata.OccurredAt)
	}
	// Every stream's chain verifies.
	for _, k := range []string{"customer-" + saved["c"], "opportunity-" + saved["o"], "service-" + saved["s"], "order-" + saved["order"]} {
		if _, err := eventstore.VerifyChain(e.stream(k)); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	// A change that changes nothing answers 200 with the unchanged revision.
	before := e.stream("customer-" + saved["c"])
	r := e.must(200, "POST", "/customers/"+saved["c"]+"/level", "admin", map[string]any{"level": 3})
	if r.revision() != int64(len(before)-1) || len(e.stream("customer-"+saved["c"])) != len(before) {
		t.Errorf("no-op level change: %s", r.raw)
	}
}

func TestWinProspectRegistersCustomerOnce(t *testing.T) {
	e := newEnv(t, 0)
	o := e.must(201, "POST", "/opportunities", "sales", map[string]any{"title": "New shop", "prospect": map[string]any{"name": "Shop Ltd", "contactName": "Bob", "contactPhone": "555"}}).str("id")
	e.must(200, "POST", "/opportunities/"+o+"/assign", "manager", map[string]any{"assigneeId": "sales"})
	first := e.must(200, "POST", "/opportunities/"+o+"/win", "sales", map[string]any{"amount": "10", "currency": "EUR"}, "Idempotency-Key", "win-1")
	again := e.must(200, "POST", "/opportunities/"+o+"/win", "sales", map[string]any{"amount": "10", "currency": "EUR"}, "Idempotency-Key", "win-1")
	if string(first.raw) != string(again.raw) {
		t.Errorf("replay body %s, first %s", again.raw, first.raw)
	}
	cust := domain.CustomerIDForOpportunity(uuid.MustParse(o))
	evs := e.stream(domain.CustomerStream(cust))
	if got := types(evs); !slices.Equal(got, []string{"CustomerRegistered", "ContactAdded"}) {
		t.Fatalf("derived customer stream: %v", got)
	}
	if evs[0].Metadata.Actor != "sales" {
		t.Errorf("actor %q", evs[0].Metadata.Actor)
	}
	if got := types(e.stream("opportunity-" + o)); got[len(got)-1] != "OpportunityWon" || slices.Index(got, "OpportunityWon") != len(got)-1 {
		t.Errorf("opportunity stream %v", got)
	}
	// The new customer belongs to the assignee: the sales rep may work on it.
	e.must(200, "POST", "/customers/"+cust.String()+"/level", "sales", map[string]any{"level": 2})
	// Winning again (without the key) is a conflict, and still one customer.
	e.must(409, "POST", "/opportunities/"+o+"/win", "sales", nil)
	if n := len(e.stream(domain.CustomerStream(cust))); n != 3 {
		t.Errorf("derived customer stream has %d events, want 3", n)
	}
}

func TestValidationNamesFields(t *testing.T) {
	e := newEnv(t, 0)
	c := e.registerCustomer("admin", "sales")
	o := e.must(201, "POST", "/opportunities", "admin", map[string]any{"title": "t", "customerId": c}).str("id")
	cases := []struct {
		method, path string
		body         any
		want         []string
	}{
		{"POST", "/customers", map[string]any{}, []string{"name"}},
		{"POST", "/customers", map[string]any{"name": "x", "level": 9, "credit": 0, "satisfaction": 7}, []string{"level", "satisfaction"}},
		{"POST", "/customers", map[string]any{"name": "x", "nmae": "typo"}, []string{"nmae"}},
		{"POST", "/customers", map[string]any{"name": "x", "level": "high"}, []string{"level"}},
		{"POST", "/customers", map[string]any{"name": "x", "id": "not-a-uuid"}, []string{"id"}},
		{"POST", "/customers/" + c + "/level", map[string]any{}, []string{"level"}},
		{"POST", "/customers/" + c + "/interactions", map[string]any{"occurredAt": "yesterday"}, []string{"channel", "summary", "occurredAt"}},
		{"POST", "/customers/" + c + "/interactions", map[string]any{"channel": "pigeon", "occurredAt": "2026-01-01T00:00:00Z", "summary": "s"}, []string{"channel"}},
		{"POST", "/customers/" + c + "/contacts", map[string]any{"email": "x@y"}, []string{"name"}},
		{"POST", "/customers/" + c + "/churn/confirm", map[string]any{"reason": "  "}, []string{"reason"}},
		{"POST", "/opportunities", map[string]any{"prospect": map[string]any{"contactName": "x"}}, []string{"title", "prospect.name"}},
		{"POST", "/opportunities", map[string]any{"title": "t", "customerId": c, "expectedValue": "lots"}, []string{"expectedValue"}},
		{"POST", "/opportunities/" + o + "/plan-items", map[string]any{"dueDate": "soon"}, []string{"dueDate", "action"}},
		{"POST", "/service-requests", map[string]any{"type": "praise"}, []string{"customerId", "title", "request"}},
		{"POST", "/service-requests", map[string]any{"customerId": uuid.NewString(), "type": "praise", "title": "t", "request": "r"}, []string{"type"}},
		{"POST", "/orders", map[string]any{"lines": []any{map[string]any{}, map[string]any{"sku": "A", "quantity": true, "unitPrice": "x"}, map[string]any{"sku": 7, "unit": []int{}, "quantity": 1, "unitPrice": 1}}},
			[]string{"customerId", "currency", "lines[0].sku", "lines[0].quantity", "lines[0].unitPrice", "lines[1].quantity", "lines[1].unitPrice", "lines[2].sku", "lines[2].unit"}},
		{"POST", "/orders", map[string]any{"customerId": c, "currency": "euro", "lines": []any{map[string]any{"sku": "A", "quantity": "-1", "unitPrice": "1"}}},
			[]string{"currency", "lines[0].quantity"}},
		{"POST", "/orders", map[string]any{"customerId": uuid.NewString(), "currency": "EUR", "lines": []any{map[string]any{"sku": "A", "quantity": "1", "unitPrice": "1"}}}, []string{"customerId"}},
	}
	for _, tc := range cases {
		r := e.must(400, tc.method, tc.path, "admin", tc.body)
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: content type %q", tc.path, ct)
		}
		got := r.fields()
		for _, f := range tc.want {
			if !slices.Contains(got, f) {
				t.Errorf("%s %v: fields %v lack %q (%s)", tc.path, tc.body, got, f, r.raw)
			}
		}
		if r.body["status"] != 400.0 || r.body["type"] != httpx.TypeValidation {
			t.Errorf("%s: problem %s", tc.path, r.raw)
		}
	}

	for _, body := range []string{`{"name":`, `[1,2]`, `{"name":"a"} {"name":"b"}`, `"x"`, `{"name":"a",}`} {
		r := e.must(400, "POST", "/customers", "admin", body)
		if r.body["status"] != 400.0 {
			t.Errorf("%q: %s", body, r.raw)
		}
	}
	big := `{"name":"` + strings.Repeat("x", writeapi.DefaultMaxBodyBytes) + `"}`
	if r := e.must(413, "POST", "/customers", "admin", big); r.body["status"] != 413.0 {
		t.Errorf("413 problem: %s", r.raw)
	}
	for _, h := range []string{`abc`, `"1.5"`, `"-2"`, `"01"`} {
		r := e.must(400, "POST", "/customers/"+c+"/level", "admin", map[string]any{"level": 2}, "If-Match", h)
		if !slices.Contains(r.fields(), "If-Match") {
			t.Errorf("If-Match %s: %s", h, r.raw)
		}
	}
	r := e.must(400, "POST", "/customers", "admin", map[string]any{"name": "x"}, "Idempotency-Key", strings.Repeat("k", 201))
	if !slices.Contains(r.fields(), "Idempotency-Key") {
		t.Errorf("long key: %s", r.raw)
	}
}

func TestAuthAndRoleMatrix(t *testing.T) {
	e := newEnv(t, 0)
	for _, tc := range []struct{ auth, want string }{{"", "missing"}, {"Bearer nope-nope-nope-nope", "unknown"}, {"Token x", "Bearer"}} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/v1/customers", strings.NewReader(`{"name":"x"}`))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/problem+json" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("auth %q: %d %v", tc.auth, resp.StatusCode, resp.Header)
		}
	}

	// Every route × every role: ScopeNone answers 403 before anything else;
	// the others get past authorisation (here: 404 or 400 on dummy ids).
	m := httpx.DefaultMatrix()
	dummy := uuid.NewString()
	for _, rt := range writeapi.Routes() {
		path := rt.Path
		for _, p := range []string{":id", ":contactId", ":itemId"} {
			path = strings.ReplaceAll(path, p, dummy)
		}
		for _, u := range testUsers {
			r := e.do(rt.Method, path, u.user, `{}`)
			scope := m.Scope([]httpx.Role{httpx.Role(u.roles)}, rt.Action)
			if scope == httpx.ScopeNone && r.status != 403 {
				t.Errorf("%s %s as %s: %d, want 403", rt.Method, rt.Path, u.user, r.status)
			}
			if scope != httpx.ScopeNone && (r.status == 403 || r.status == 401 || r.status >= 500) {
				t.Errorf("%s %s as %s: %d (%s)", rt.Method, rt.Path, u.user, r.status, r.raw)
			}
		}
	}

	// Sales reps act on their own customers only.
	own := e.registerCustomer("sales", "")
	other := e.registerCustomer("admin", "sales2")
	e.must(200, "POST", "/customers/"+own+"/level", "sales", map[string]any{"level": 2})
	r := e.must(403, "POST", "/customers/"+other+"/level", "sales", map[string]any{"level": 2})
	if r.body["status"] != 403.0 {
		t.Errorf("problem %s", r.raw)
	}
	e.must(403, "POST", "/customers", "sales", map[string]any{"name": "x", "ownerId": "sales2"})
	e.must(403, "POST", "/opportunities", "sales", map[string]any{"title": "t", "customerId": other})
	e.must(403, "POST", "/orders", "sales", map[string]any{"customerId": other, "currency": "EUR", "lines": []any{map[string]any{"sku": "A", "quantity": 1, "unitPrice": "1"}}})
	ord := e.must(201, "POST", "/orders", "manager", map[string]any{"customerId": other, "currency": "EUR", "lines": []any{map[string]any{"sku": "A", "quantity": 1, "unitPrice": "1"}}}).str("id")
	e.must(403, "POST", "/orders/"+ord+"/ship", "sales", nil)
	e.must(200, "POST", "/orders/"+ord+"/ship", "sales2", nil)
	e.must(201, "POST", "/orders", "sales", map[string]any{"customerId": own, "currency": "EUR", "lines": []any{map[string]any{"sku": "A", "quantity": 1, "unitPrice": "1"}}})
	// Service agents work on every customer's service requests.
	sr := e.must(201, "POST", "/service-requests", "service", map[string]any{"customerId": other, "type": "consultation", "title": "t", "request": "r"}).str("id")
	e.must(403, "POST", "/service-requests", "sales", map[string]any{"customerId": other, "type": "consultation", "title": "t", "request": "r"})
	e.must(200, "POST", "/service-requests/"+sr+"/assign", "service", map[string]any{"assigneeId": "service"})
	e.must(201, "POST", "/customers/"+other+"/interactions", "service", map[string]any{"channel": "call", "occurredAt": "2026-01-01T00:00:00Z", "summary": "s"})
}

func TestNotFound(t *testing.T) {
	e := newEnv(t, 0)
	c := e.registerCustomer("admin", "")
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/customers/" + uuid.NewString() + "/level", map[string]any{"level": 2}},
		{"POST", "/customers/not-a-uuid/level", map[string]any{"level": 2}},
		{"PATCH", "/customers/" + uuid.NewString(), map[string]any{"phone": "1"}},
		{"PATCH", "/customers/" + c + "/contacts/" + uuid.NewString(), map[string]any{"phone": "1"}},
		{"DELETE", "/customers/" + c + "/contacts/" + uuid.NewString(), nil},
		{"POST", "/opportunities/" + uuid.NewString() + "/win", nil},
		{"POST", "/service-requests/" + uuid.NewString() + "/handle", map[string]any{"handling": "h"}},
		{"POST", "/orders/" + uuid.NewString() + "/deliver", nil},
	} {
		r := e.do(tc.method, tc.path, "admin", tc.body)
		if r.status != 404 || r.body["status"] != 404.0 || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.status, r.raw)
		}
	}
}

func TestConflictAndPreconditionFailed(t *testing.T) {
	// No conflict retries and no in-process queueing: concurrent writers see 409.
	e := newEnvWith(t, commands.Config{MaxRetries: -1, NoStreamLocks: true})
	c := e.registerCustomer("admin", "")
	// A state conflict.
	e.must(409, "POST", "/customers/"+c+"/churn/defer", "admin", map[string]any{"measure": "m"})
	e.must(409, "POST", "/customers", "admin", map[string]any{"id": c, "name": "again"})

	// If-Match: a stale revision is 412, the current one succeeds.
	r := e.must(412, "POST", "/customers/"+c+"/level", "admin", map[string]any{"level": 2}, "If-Match", `"5"`)
	if r.body["status"] != 412.0 || r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("412 problem: %s", r.raw)
	}
	e.must(200, "POST", "/customers/"+c+"/level", "admin", map[string]any{"level": 2}, "If-Match", `"0"`)

	// Concurrent conditional writes on the same revision: exactly one wins.
	const n = 16
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i] = e.do("PATCH", "/customers/"+c, "admin", map[string]any{"phone": strconv.Itoa(i)}, "If-Match", `"1"`).status
		})
	}
	wg.Wait()
	if ok := count(statuses, 200); ok != 1 || count(statuses, 412) != n-1 {
		t.Errorf("If-Match race: statuses %v", statuses)
	}

	// Concurrent unconditional writes without retries: the losers get 409,
	// the winners' events are all there.
	for i := range n {
		wg.Go(func() {
			statuses[i] = e.do("PATCH", "/customers/"+c, "admin", map[string]any{"fax": "f" + strconv.Itoa(i)}).status
		})
	}
	wg.Wait()
	if count(statuses, 200)+count(statuses, 409) != n || count(statuses, 409) == 0 {
		t.Logf("statuses %v", statuses) // 409s depend on timing
	}
	changed := 0
	for _, ev := range e.stream("customer-" + c) {
		if ev.Type == "CustomerProfileChanged" {
			changed++
		}
	}
	if changed != 1+count(statuses, 200) {
		t.Errorf("%d profile changes for %d accepted commands", changed, 1+count(statuses, 200))
	}
}

func count(xs []int, v int) int {
	n := 0
	for _, x := range xs {
		if x == v {
			n++
		}
	}
	return n
}

func TestIdempotentRetry(t *testing.T) {
	e := newEnv(t, 0)
	key := "register-" + uuid.NewString()
	first := e.must(201, "POST", "/customers", "admin", map[string]any{"name": "Once Ltd"}, "Idempotency-Key", key)
	for range 3 {
		again := e.must(201, "POST", "/customers", "admin", map[string]any{"name": "Once Ltd"}, "Idempotency-Key", key)
		if string(again.raw) != string(first.raw) || again.header.Get("X-Event-Position") != first.header.Get("X-Event-Position") {
			t.Fatalf("replay %s, first %s", again.raw, first.raw)
		}
	}
	c := first.str("id")
	if n := len(e.stream("customer-" + c)); n != 1 {
		t.Fatalf("%d events after retries, want 1", n)
	}
	// A retry after other writes still answers the first result.
	ikey := "interaction-" + uuid.NewString()
	body := map[string]any{"channel": "email", "occurredAt": "2026-02-01T09:00:00Z", "summary": "sent the catalogue"}
	i1 := e.must(201, "POST", "/customers/"+c+"/interactions", "admin", body, "Idempotency-Key", ikey)
	e.must(200, "POST", "/customers/"+c+"/level", "admin", map[string]any{"level": 4})
	i2 := e.must(201, "POST", "/customers/"+c+"/interactions", "admin", body, "Idempotency-Key", ikey)
	if string(i1.raw) != string(i2.raw) || i2.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("interaction replay %s (%v), first %s", i2.raw, i2.header, i1.raw)
	}
	evs := e.stream("customer-" + c)
	if got := types(evs); !slices.Equal(got, []string{"CustomerRegistered", "InteractionLogged", "CustomerLevelChanged"}) {
		t.Errorf("stream %v", got)
	}
	if evs[1].EventID != eventstore.EventID(ikey, 0) {
		t.Errorf("event id %v, want EventID(key, 0)", evs[1].EventID)
	}
	// Orders: same key, same order.
	okey := "order-" + uuid.NewString()
	ob := map[string]any{"customerId": c, "currency": "EUR", "lines": []any{map[string]any{"sku": "A", "quantity": "2", "unitPrice": "1.50"}}}
	o1 := e.must(201, "POST", "/orders", "admin", ob, "Idempotency-Key", okey)
	o2 := e.must(201, "POST", "/orders", "admin", ob, "Idempotency-Key", okey)
	if string(o1.raw) != string(o2.raw) || len(e.stream("order-"+o1.str("id"))) != 1 {
		t.Errorf("order replay %s / %s", o1.raw, o2.raw)
	}
}

// TestRaceSameCustomer: 32 concurrent clients log interactions on and
// change the same customer. No update is lost: every accepted command's
// events are in the stream exactly once, and the hash chain verifies.
func TestRaceSameCustomer(t *testing.T) {
	t.Run("queued", func(t *testing.T) { raceSameCustomer(t, newEnv(t, 0), true) })
	// Without the in-process queue, optimistic concurrency alone: some
	// commands may exhaust their retries (409), none is lost or doubled.
	t.Run("optimistic", func(t *testing.T) { raceSameCustomer(t, newEnvWith(t, commands.Config{NoStreamLocks: true}), false) })
}

func raceSameCustomer(t *testing.T, e *env, wantAll bool) {
	c := e.registerCustomer("admin", "")
	const clients, perClient = 32, 6
	type accepted struct {
		interaction string // interaction id, or "" for a profile change
		phone       string
		revision    int64
	}
	var (
		mu       sync.Mutex
		accepts  []accepted
		rejected = map[int]int{}
		wg       sync.WaitGroup
	)
	for cl := range clients {
		wg.Go(func() {
			for i := range perClient {
				var r reply
				var a accepted
				if i%2 == 0 {
					r = e.do("POST", "/customers/"+c+"/interactions", "admin", map[string]any{
						"channel": "call", "occurredAt": "2026-03-01T10:00:00Z", "summary": "call " + strconv.Itoa(cl) + "/" + strconv.Itoa(i)},
						"Idempotency-Key", "race-"+strconv.Itoa(cl)+"-"+strconv.Itoa(i))
					a.interaction = r.str("id")
				} else {
					a.phone = "+1-" + strconv.Itoa(cl) + "-" + strconv.Itoa(i)
					r = e.do("PATCH", "/customers/"+c, "admin", map[string]any{"phone": a.phone})
				}
				mu.Lock()
				if r.status == 200 || r.status == 201 {
					a.revision = r.revision()
					accepts = append(accepts, a)
				} else {
					rejected[r.status]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for status := range rejected {
		if status != 409 {
			t.Errorf("unexpected statuses %v", rejected)
		}
	}
	evs := e.stream("customer-" + c)
	if _, err := eventstore.VerifyChain(evs); err != nil {
		t.Fatal(err)
	}
	byRev := map[int64]eventstore.Recorded{}
	interactions := map[string]int{}
	phones := map[string]int{}
	for _, ev := range evs {
		byRev[int64(ev.Revision)] = ev
		switch ev.Type {
		case "InteractionLogged":
			var d struct {
				InteractionID string `json:"interactionId"`
			}
			_ = jsonUnmarshal(ev.Data, &d)
			interactions[d.InteractionID]++
		case "CustomerProfileChanged":
			var d struct {
				Profile struct {
					Phone string `json:"phone"`
				} `json:"profile"`
			}
			_ = jsonUnmarshal(ev.Data, &d)
			phones[d.Profile.Phone]++
		}
	}
	for _, a := range accepts {
		ev, ok := byRev[a.revision]
		switch {
		case !ok:
			t.Errorf("accepted command at revision %d not in the stream", a.revision)
		case a.interaction != "" && (ev.Type != "InteractionLogged" || interactions[a.interaction] != 1):
			t.Errorf("interaction %s: %d times, event at its revision %s", a.interaction, interactions[a.interaction], ev.Type)
		case a.interaction == "" && (ev.Type != "CustomerProfileChanged" || phones[a.phone] != 1):
			t.Errorf("phone %s: %d times, event at its revision %s", a.phone, phones[a.phone], ev.Type)
		}
	}
	if len(evs) != 1+len(accepts) {
		t.Errorf("%d events for %d accepted commands (+ registration)", len(evs), len(accepts))
	}
	t.Logf("%d of %d commands accepted, rejected %v", len(accepts), clients*perClient, rejected)
	if wantAll && len(accepts) != clients*perClient {
		t.Errorf("only %d of %d commands accepted", len(accepts), clients*perClient)
	}
}

func TestUnavailable(t *testing.T) {
	e := newEnv(t, 0)
	c := e.registerCustomer("admin", "")
	_ = e.store.Close()
	r := e.must(503, "POST", "/customers/"+c+"/level", "admin", map[string]any{"level": 2})
	if r.body["status"] != 503.0 || r.header.Get("Retry-After") == "" || r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("503: %v %s", r.header, r.raw)
	}
}

// TestEventsTooLarge: a body under the 1 MiB limit whose events exceed the
// event store's append limit answers 413, not 500.
func TestEventsTooLarge(t *testing.T) {
	e := newEnv(t, 0)
	c := e.registerCustomer("admin", "")
	var b strings.Builder
	b.WriteString(`{"customerId":"` + c + `","currency":"EUR","lines":[`)
	for i := range 23000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"sku":"S","quantity":"1","unitPrice":"1"}`)
	}
	b.WriteString("]}")
	r := e.do("POST", "/orders", "admin", b.String())
	t.Logf("%d bytes: %d %s", b.Len(), r.status, r.raw)
	if r.status != 413 || r.body["status"] != 413.0 {
		t.Errorf("status %d: %s", r.status, r.raw)
	}
}

func TestChosenIDs(t *testing.T) {
	e := newEnv(t, 0)
	id := uuid.NewString()
	if got := e.must(201, "POST", "/customers", "admin", map[string]any{"id": id, "name": "Chosen"}).str("id"); got != id {
		t.Errorf("customer id %s, want %s", got, id)
	}
	cid := uuid.NewString()
	if got := e.must(201, "POST", "/customers/"+id+"/contacts", "admin", map[string]any{"id": cid, "name": "Ann"}).str("id"); got != cid {
		t.Errorf("contact id %s, want %s", got, cid)
	}
	r := e.must(400, "POST", "/customers/"+id+"/contacts", "admin", map[string]any{"id": "nope", "name": "Ann"})
	if !slices.Contains(r.fields(), "id") {
		t.Errorf("bad contact id: %s", r.raw)
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t, 0)
	r := e.must(201, "POST", "/customers", "sales", map[string]any{"name": "Meta"}, "X-Correlation-ID", "req-42", "Idempotency-Key", "meta-1")
	evs := e.stream(r.str("stream"))
	m := evs[0].Metadata
	if m.CorrelationID != "req-42" || m.Actor != "sales" || m.CommandID == "" || m.CausationID != m.CommandID ||
		m.SchemaVersion != 1 || m.PrevHash != eventstore.GenesisHash || m.Hash == "" || m.OccurredAt.IsZero() {
		t.Errorf("metadata %+v", m)
	}
	if evs[0].EventID != eventstore.EventID("meta-1", 0) {
		t.Errorf("event id %v", evs[0].EventID)
	}
}
