package readapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crm-es/crm/audit"
	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/crm-es/crm/readapi"
)

// audRoles are the users of the audit tests' key file (user id = role).
var audRoles = []string{"admin", "manager", "sales", "service", "auditor", "analyst", "executive"}

func audKey(user string) string { return "audit-test-key-" + user + "-0123456789" }

// gatedStore is the real event store with a gate on one $all page read:
// the gateAt-th ReadAll waits until gate is closed, so a test can observe
// what the client has received by then.
type gatedStore struct {
	*eventstore.Store
	reads  atomic.Int64
	gateAt int64
	gate   chan struct{}
	failAt int64 // the failAt-th ReadAll fails as unavailable (0 = never)
}

func (g *gatedStore) ReadAll(ctx context.Context, after eventstore.Checkpoint, limit int) ([]eventstore.Recorded, error) {
	n := g.reads.Add(1)
	if g.failAt > 0 && n == g.failAt {
		return nil, fmt.Errorf("read $all: %w", eventstore.ErrUnavailable)
	}
	if g.gate != nil && n == g.gateAt {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Store.ReadAll(ctx, after, limit)
}

// audEnv serves the audit endpoints over real HTTP, behind the API-key
// middleware, on the embedded event store. There is no Redis at all.
type audEnv struct {
	t     testing.TB
	store *eventstore.Store
	src   *gatedStore
	srv   *httptest.Server
	codec *eventstore.Codec
	revs  map[string]int64
	n     int
}

func newAudEnv(t testing.TB, pageSize, flushEvery int) *audEnv {
	t.Helper()
	store, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	var lines []string
	for _, r := range audRoles {
		lines = append(lines, audKey(r)+" "+r+" "+r)
	}
	keys, err := httpx.ParseKeys(strings.NewReader(strings.Join(lines, "\n")), "test")
	if err != nil {
		t.Fatal(err)
	}
	src := &gatedStore{Store: store}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	v1 := r.Group("/v1", httpx.Authenticate(keys))
	if err := readapi.RegisterAudit(v1, readapi.AuditConfig{Log: audit.NewLog(audit.LogConfig{Store: src, PageSize: pageSize}), FlushEvery: flushEvery}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &audEnv{t: t, store: store, src: src, srv: srv, codec: commands.NewCodec(), revs: map[string]int64{}}
}

// append writes domain events to a stream with the project's envelope.
func (e *audEnv) append(stream string, events ...domain.Event) {
	e.t.Helper()
	rev, ok := e.revs[stream]
	if !ok {
		rev = -1
	}
	e.n++
	cmd := fmt.Sprintf("audit-test-cmd-%d", e.n)
	pend := make([]eventstore.Pending, len(events))
	for i, ev := range events {
		p, err := e.codec.NewPending(ev, eventstore.Metadata{CorrelationID: cmd, CausationID: cmd, Actor: "sales", CommandID: cmd})
		if err != nil {
			e.t.Fatal(err)
		}
		pend[i] = p
	}
	res, err := e.store.Append(context.Background(), stream, rev, pend)
	if err != nil {
		e.t.Fatal(err)
	}
	e.revs[stream] = int64(res.Revision)
}

type audReply struct {
	status int
	header http.Header
	body   []byte
}

func (e *audEnv) get(path, user string, accept ...string) audReply {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+audKey(user))
	}
	if len(accept) > 0 {
		req.Header.Set("Accept", accept[0])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return audReply{status: resp.StatusCode, header: resp.Header, body: body}
}

func (r audReply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// customer writes a customer with an order and a service request, and
// returns its id and streams.
func (e *audEnv) customer(name string) (uuid.UUID, []string) {
	e.t.Helper()
	id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(name))
	c := domain.NewCustomer()
	if err := c.Register(id, domain.RegisterCustomer{Profile: domain.Profile{Name: name}, OwnerID: "sales"}, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	cs := domain.CustomerStream(id)
	e.append(cs, c.Changes()...)
	ord := uuid.NewSHA1(id, []byte("order"))
	total, _ := domain.ParseDecimal("12.50")
	e.append(domain.OrderStream(ord), domain.OrderPlaced{OrderID: ord, CustomerID: id, OrderedAt: time.Now().UTC(), Currency: "EUR", Total: total})
	svc := uuid.NewSHA1(id, []byte("svc"))
	e.append(domain.ServiceStream(svc), domain.ServiceRequestOpened{ServiceRequestID: svc, CustomerID: id, Type: "consultation", Title: "Q", Request: "?", OpenedAt: time.Now().UTC()})
	e.append(cs, domain.CustomerLevelChanged{CustomerID: id, From: 0, To: 2})
	e.append(domain.OrderStream(ord), domain.OrderShipped{OrderID: ord, CustomerID: id, ShippedAt: time.Now().UTC()})
	return id, []string{cs, domain.OrderStream(ord), domain.ServiceStream(svc)}
}

// audDirect reads the streams with the client: the expected history.
func audDirect(t testing.TB, s *eventstore.Store, streams ...string) []audit.Event {
	t.Helper()
	var out []audit.Event
	for _, st := range streams {
		evs, _, err := s.LoadStream(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range evs {
			out = append(out, audit.FromRecorded(r))
		}
	}
	slices.SortFunc(out, func(a, b audit.Event) int {
		if a.Position < b.Position {
			return -1
		}
		return 1
	})
	return out
}

// runLinker links until caught up, then stops.
func runLinker(t testing.TB, s *eventstore.Store) {
	t.Helper()
	l, err := audit.NewLinker(audit.LinkerConfig{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("linker: %v", err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !l.Live() || l.Saved().IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("linker did not catch up: %v", l.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAuditAccess: roles, authentication, unknown customers and bad
// parameters.
func TestAuditAccess(t *testing.T) {
	e := newAudEnv(t, 0, 0)
	id, streams := e.customer("Access Ltd")
	base := "/v1/audit/customers/" + id.String()
	unknown := "/v1/audit/customers/" + uuid.NewString()
	tests := []struct {
		name, path, user string
		status           int
		field            string
	}{
		{"auditor reads events", base + "/events", "auditor", 200, ""},
		{"admin reads events", base + "/events", "admin", 200, ""},
		{"auditor reads state", base + "/state", "auditor", 200, ""},
		{"auditor verifies customer", base + "/verify", "auditor", 200, ""},
		{"auditor verifies stream", "/v1/audit/streams/" + streams[1] + "/verify", "auditor", 200, ""},
		{"no key", base + "/events", "", 401, ""},
		{"sales denied", base + "/events", "sales", 403, ""},
		{"service denied", base + "/state", "service", 403, ""},
		{"manager denied", base + "/verify", "manager", 403, ""},
		{"analyst denied", "/v1/audit/streams/" + streams[0] + "/verify", "analyst", 403, ""},
		{"executive denied", base + "/events", "executive", 403, ""},
		{"unknown customer events", unknown + "/events", "auditor", 404, ""},
		{"unknown customer events ndjson", unknown + "/events", "auditor", 404, ""},
		{"unknown customer state", unknown + "/state", "auditor", 404, ""},
		{"unknown customer verify", unknown + "/verify", "auditor", 404, ""},
		{"unknown stream verify", "/v1/audit/streams/order-" + uuid.NewString() + "/verify", "auditor", 404, ""},
		{"state before registration", base + "/state?asOf=2000-01-01T00:00:00Z", "auditor", 404, ""},
		{"bad asOf", base + "/state?asOf=yesterday", "auditor", 400, "asOf"},
		{"bad id", "/v1/audit/customers/42/events", "auditor", 400, "id"},
		{"bad limit", base + "/events?limit=0", "auditor", 400, "limit"},
		{"repeated limit", base + "/events?limit=1&limit=2", "auditor", 400, "limit"},
		{"repeated cursor", base + "/events?cursor=a&cursor=b", "auditor", 400, "cursor"},
		{"repeated asOf", base + "/state?asOf=2011-01-01&asOf=2012-01-01", "auditor", 400, "asOf"},
		{"bad cursor", base + "/events?cursor=xyz", "auditor", 400, "cursor"},
		{"system stream", "/v1/audit/streams/$all/verify", "auditor", 400, "stream"},
		{"link stream", "/v1/audit/streams/" + audit.HistoryStream(id) + "/verify", "auditor", 400, "stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var accept []string
			if strings.Contains(tt.name, "ndjson") {
				accept = []string{readapi.ContentTypeNDJSON}
			}
			r := e.get(tt.path, tt.user, accept...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status < 400 {
				return
			}
			if ct := r.header.Get("Content-Type"); ct != httpx.ContentTypeProblem {
				t.Errorf("content type %q", ct)
			}
			var p httpx.Problem
			r.decode(t, &p)
			if p.Status != tt.status {
				t.Errorf("problem status %d", p.Status)
			}
			if tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field) {
				t.Errorf("problem fields %+v, want %q", p.Errors, tt.field)
			}
		})
	}
}

// TestAuditEventsPaged: the JSON pages, followed by nextCursor, equal the
// events read directly, with the linker behind (new events after it ran).
func TestAuditEventsPaged(t *testing.T) {
	e := newAudEnv(t, 2, 0)
	id, streams := e.customer("Paged plc")
	e.customer("Other plc")
	runLinker(t, e.store)
	e.append(streams[0], domain.CustomerCreditRated{CustomerID: id, To: 4})
	e.append(streams[1], domain.OrderDelivered{OrderID: uuid.MustParse(strings.TrimPrefix(streams[1], "order-")), CustomerID: id, DeliveredAt: time.Now().UTC()})

	var got []audit.Event
	path := "/v1/audit/customers/" + id.String() + "/events?limit=3"
	for {
		r := e.get(path, "auditor")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var page struct {
			Items      []audit.Event `json:"items"`
			NextCursor *string       `json:"nextCursor"`
		}
		r.decode(t, &page)
		got = append(got, page.Items...)
		if page.NextCursor == nil {
			break
		}
		path = "/v1/audit/customers/" + id.String() + "/events?limit=3&cursor=" + *page.NextCursor
	}
	want := audDirect(t, e.store, streams...)
	if len(want) != 7 {
		t.Fatalf("want 7 events, scenario has %d", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged history (-want +got):\n%s", diff)
	}

	// The state as of now carries the credit rating; every field of the
	// audit event shape is present.
	var raw struct {
		Items []map[string]any `json:"items"`
	}
	e.get("/v1/audit/customers/"+id.String()+"/events?limit=1", "auditor").decode(t, &raw)
	for _, k := range []string{"stream", "revision", "position", "type", "recordedAt", "occurredAt", "actor", "correlationId", "causationId", "data", "metadata"} {
		if _, ok := raw.Items[0][k]; !ok {
			t.Errorf("audit event lacks %q: %v", k, raw.Items[0])
		}
	}
	var st audit.State
	e.get("/v1/audit/customers/"+id.String()+"/state?asOf="+time.Now().UTC().Format(time.RFC3339Nano), "auditor").decode(t, &st)
	if st.Customer.Credit != 4 || st.Customer.Level != 2 || len(st.Events) != 3 {
		t.Errorf("state now: %+v", st)
	}
}

// TestAuditEventsNDJSONLong: a history of thousands of events streams as
// NDJSON while it is read: the first lines reach the client while the
// server is still held before its third page of $all, so the answer is
// never built in memory; the whole stream equals the direct reads.
func TestAuditEventsNDJSONLong(t *testing.T) {
	const n = 3000
	e := newAudEnv(t, 100, 50)
	id, streams := e.customer("Long Ltd")
	cs := streams[0]
	for i := 0; i < n; i += 100 {
		batch := make([]domain.Event, 100)
		for j := range batch {
			batch[j] = domain.InteractionLogged{CustomerID: id, InteractionID: uuid.NewSHA1(id, fmt.Appendf(nil, "i%d", i+j)),
				Channel: "call", OccurredAt: time.Now().UTC(), Summary: fmt.Sprintf("call %d", i+j)}
		}
		e.append(cs, batch...)
	}
	want := audDirect(t, e.store, streams...)

	e.src.gate, e.src.gateAt = make(chan struct{}), 3
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/audit/customers/"+id.String()+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+audKey("auditor"))
	req.Header.Set("Accept", readapi.ContentTypeNDJSON)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != readapi.ContentTypeNDJSON {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// If the server held the answer back until the end, no line would come
	// while it waits at the gate: fail after 10 s instead of hanging.
	var release sync.Once
	open := func() { release.Do(func() { close(e.src.gate) }) }
	watchdog := time.AfterFunc(10*time.Second, func() { t.Error("no NDJSON line within 10 s: the answer is not streamed"); open() })
	defer watchdog.Stop()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var got []audit.Event
	for sc.Scan() {
		var ev audit.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d: %v: %s", len(got), err, sc.Bytes())
		}
		got = append(got, ev)
		if len(got) == 1 {
			if r := e.src.reads.Load(); r > 3 {
				t.Errorf("first line arrived after %d page reads", r)
			}
			watchdog.Stop()
			open() // let the server read on
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != n+5 {
		t.Errorf("streamed %d events, want %d", len(got), n+5)
	}
	if !reflect.DeepEqual(want, got) { // cmp.Diff only on failure: it is slow on thousands of events under -race
		t.Errorf("NDJSON history (-want +got):\n%s", cmp.Diff(want, got))
	}
}

// TestAuditVerifyTampered: a raw append with a forged prevHash is named by
// both verify endpoints.
func TestAuditVerifyTampered(t *testing.T) {
	e := newAudEnv(t, 0, 0)
	id, streams := e.customer("Tamper AG")
	cs := streams[0]
	data := []byte(`{"customerId":"` + id.String() + `","from":2,"to":5}`)
	meta := eventstore.Metadata{Actor: "mallory", CommandID: "x", SchemaVersion: 1, PrevHash: eventstore.GenesisHash}
	eid := uuid.New()
	var err error
	if meta.Hash, err = eventstore.ComputeHash(cs, domain.TypeCustomerLevelChanged, eid, data, meta); err != nil {
		t.Fatal(err)
	}
	mj, _ := json.Marshal(meta)
	if _, err := e.store.Client().AppendToStream(context.Background(), cs, esdbAny(),
		esdbEvent(eid, domain.TypeCustomerLevelChanged, data, mj)); err != nil {
		t.Fatal(err)
	}
	var sr audit.StreamReport
	e.get("/v1/audit/streams/"+cs+"/verify", "auditor").decode(t, &sr)
	if sr.OK || sr.FirstBreak == nil || sr.FirstBreak.Revision != 2 || sr.FirstBreak.Check != "prevHash" || sr.FirstBreak.Found != eventstore.GenesisHash {
		t.Errorf("stream verify: %+v %+v", sr, sr.FirstBreak)
	}
	var cr audit.CustomerReport
	e.get("/v1/audit/customers/"+id.String()+"/verify", "admin").decode(t, &cr)
	if cr.OK || cr.FirstBreak == nil || cr.FirstBreak.Stream != cs || cr.FirstBreak.Revision != 2 || len(cr.Streams) != 3 {
		t.Errorf("customer verify: %+v", cr)
	}
	var ok audit.StreamReport
	e.get("/v1/audit/streams/"+streams[1]+"/verify", "auditor").decode(t, &ok)
	if !ok.OK || ok.Events != 2 {
		t.Errorf("untouched stream: %+v", ok)
	}
}

// TestAuditEventsNDJSONFailure: a read failure after the first lines ends
// the stream with a last line {"error": <problem>}; before any line it is
// an ordinary 503 problem.
func TestAuditEventsNDJSONFailure(t *testing.T) {
	e := newAudEnv(t, 2, 1)
	id, _ := e.customer("Fail Ltd")
	path := "/v1/audit/customers/" + id.String() + "/events"

	e.src.reads.Store(0)
	e.src.failAt = 2 // the second page of the $all scan
	r := e.get(path, "auditor", readapi.ContentTypeNDJSON)
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	if r.status != 200 || len(lines) != 3 {
		t.Fatalf("status %d, %d lines: %s", r.status, len(lines), r.body)
	}
	var last struct {
		Error *httpx.Problem `json:"error"`
	}
	if err := json.Unmarshal([]byte(lines[2]), &last); err != nil || last.Error == nil || last.Error.Status != http.StatusServiceUnavailable {
		t.Errorf("last line %s (%v), want an error with status 503", lines[2], err)
	}

	e.src.reads.Store(0)
	e.src.failAt = 1
	r = e.get(path, "auditor", readapi.ContentTypeNDJSON)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Content-Type") != httpx.ContentTypeProblem {
		t.Errorf("failure before the first line: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
}
