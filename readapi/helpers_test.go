package readapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/crm-es/crm/internal/redistest"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/churn"
	"github.com/crm-es/crm/projections/readmodels"
	"github.com/crm-es/crm/readapi"
	"github.com/crm-es/crm/writeapi"
	"github.com/redis/go-redis/v9"
)

// Users of the test key file: user id = role name, plus a second sales rep.
var testUsers = []struct{ user, roles string }{
	{"admin", "admin"}, {"manager", "manager"}, {"sales", "sales"}, {"sales2", "sales"},
	{"service", "service"}, {"auditor", "auditor"}, {"analyst", "analyst"}, {"executive", "executive"},
}

func keyOf(user string) string { return "test-key-of-" + user + "-0123456789" }

// env is the command and query API over the embedded event store
// (official client, real gRPC), a real redis-server and the real projector
// runtime, served over real HTTP.
type env struct {
	t      testing.TB
	store  *eventstore.Store
	redis  *redistest.Server
	rt     *projections.Runtime
	srv    *httptest.Server
	client *http.Client
}

func allProjections() []projections.Projection {
	return append(readmodels.All(), churn.NewProjection())
}

func newEnv(t testing.TB) *env {
	t.Helper()
	r := redistest.Start(t)
	store, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return newEnvOn(t, store, r.Client, r, nil)
}

// newEnvOn is newEnv over a given event store and read store (rdb: a
// redis-server or the embedded read store; real is its redistest server,
// nil for the embedded one), with commands dated by clock (nil: the
// system clock).
func newEnvOn(t testing.TB, store *eventstore.Store, rdb *redis.Client, real *redistest.Server, clock func() time.Time) *env {
	t.Helper()
	var lines strings.Builder
	for _, u := range testUsers {
		fmt.Fprintf(&lines, "%s %s %s\n", keyOf(u.user), u.user, u.roles)
	}
	keys, err := httpx.ParseKeys(strings.NewReader(lines.String()), "test-keys")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := projections.NewRuntime(projections.RuntimeConfig{Store: store, Redis: rdb, Codec: commands.NewCodec(),
		Projections: allProjections(), LeaseTTL: time.Second, PollInterval: 50 * time.Millisecond, BatchWait: 5 * time.Millisecond,
		RetireGrace: 200 * time.Millisecond}) // the rebuild tests wait for the retired generation to go
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	gin.SetMode(gin.ReleaseMode)
	router := gin.New()
	router.HandleMethodNotAllowed = true
	v1 := router.Group("/v1", httpx.Authenticate(keys))
	writeapi.Register(v1, writeapi.Config{Commands: commands.New(commands.Config{Store: store, Now: clock})})
	if err := readapi.Register(v1, readapi.Config{Redis: rdb, Store: store, Projections: allProjections()}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, redis: real, rt: rt, client: &http.Client{Timeout: 30 * time.Second}}
	e.srv = httptest.NewServer(router)
	t.Cleanup(e.srv.Close)
	e.waitReady()
	return e
}

// waitReady waits until every projection serves a generation.
func (e *env) waitReady() {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for e.rt.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			e.t.Fatal("projections not ready within 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reply is an HTTP answer.
type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r reply) str(k string) string {
	s, _ := r.body[k].(string)
	return s
}

// items returns the items of a list answer.
func (r reply) items() []map[string]any {
	raw, _ := r.body["items"].([]any)
	out := make([]map[string]any, len(raw))
	for i, it := range raw {
		out[i], _ = it.(map[string]any)
	}
	return out
}

// fields returns the field names of a validation problem.
func (r reply) fields() []string {
	var out []string
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		m, _ := e.(map[string]any)
		s, _ := m["field"].(string)
		out = append(out, s)
	}
	return out
}

// do sends a request as user ("" = no Authorization) with optional JSON
// body and extra headers (name, value pairs).
func (e *env) do(method, path, user string, body any, headers ...string) reply {
	e.t.Helper()
	r, err := e.try(method, path, user, body, headers...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// tryGet is get without failing the test (for goroutines).
func (e *env) tryGet(path, user string) (reply, error) {
	return e.try(http.MethodGet, path, user, nil)
}

func (e *env) try(method, path, user string, body any, headers ...string) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+keyOf(user))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	rp := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && resp.StatusCode != http.StatusNotModified {
		if err := json.Unmarshal(raw, &rp.body); err != nil {
			return rp, fmt.Errorf("%s %s: %d, body is not a JSON object: %v\n%s", method, path, resp.StatusCode, err, raw)
		}
	}
	return rp, nil
}

// get is a query as user.
func (e *env) get(path, user string, headers ...string) reply {
	e.t.Helper()
	return e.do(http.MethodGet, path, user, nil, headers...)
}

// cmd runs a command as user and requires 200/201; it returns the reply.
func (e *env) cmd(method, path, user string, body any) reply {
	e.t.Helper()
	r := e.do(method, path, user, body)
	if r.status != http.StatusOK && r.status != http.StatusCreated {
		e.t.Fatalf("%s %s as %s: %d %s", method, path, user, r.status, r.raw)
	}
	return r
}

// fresh queries path as user with X-Min-Position of the command reply
// cmd, requiring 200.
func (e *env) fresh(path, user string, cmd reply) reply {
	e.t.Helper()
	r := e.get(path, user, "X-Min-Position", cmd.str("position"), "X-Wait-Timeout", "10s")
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s as %s after position %s: %d %s", path, user, cmd.str("position"), r.status, r.raw)
	}
	return r
}

// register registers a customer owned by owner and returns its id and the
// command reply.
func (e *env) register(user, name, owner string, extra map[string]any) (string, reply) {
	e.t.Helper()
	body := map[string]any{"name": name, "ownerId": owner, "level": 2, "region": "North"}
	for k, v := range extra {
		body[k] = v
	}
	r := e.cmd(http.MethodPost, "/v1/customers", user, body)
	return r.str("id"), r
}

// position returns a reply's X-Projection-Position.
func position(t testing.TB, r reply) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(r.header.Get("X-Projection-Position"), 10, 64)
	if err != nil {
		t.Fatalf("X-Projection-Position %q: %v", r.header.Get("X-Projection-Position"), err)
	}
	return n
}
