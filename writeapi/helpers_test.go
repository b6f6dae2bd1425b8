package writeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/httpx"
	"github.com/crm-es/crm/writeapi"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
)

// Users of the test key file: user id = role name, plus a second sales rep.
var testUsers = []struct{ user, roles string }{
	{"admin", "admin"}, {"manager", "manager"}, {"sales", "sales"}, {"sales2", "sales"},
	{"service", "service"}, {"auditor", "auditor"}, {"analyst", "analyst"}, {"executive", "executive"},
}

func keyOf(user string) string { return "test-key-of-" + user + "-0123456789" }

// env is a running command API over the embedded event store (official
// client, real gRPC) and a real HTTP server.
type env struct {
	t       testing.TB
	store   *eventstore.Store
	cmds    *commands.Handlers
	handler http.Handler
	srv     *httptest.Server
}

func newEnv(t testing.TB, maxRetries int) *env {
	return newEnvWith(t, commands.Config{MaxRetries: maxRetries})
}

func newEnvWith(t testing.TB, cfg commands.Config) *env {
	t.Helper()
	store, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	var lines strings.Builder
	for _, u := range testUsers {
		fmt.Fprintf(&lines, "%s %s %s\n", keyOf(u.user), u.user, u.roles)
	}
	keys, err := httpx.ParseKeys(strings.NewReader(lines.String()), "test-keys")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = store
	cmds := commands.New(cfg)
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	writeapi.Register(r.Group("/v1", httpx.Authenticate(keys)), writeapi.Config{Commands: cmds})
	e := &env{t: t, store: store, cmds: cmds, handler: r}
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	return e
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

func (r reply) revision() int64 {
	f, _ := r.body["revision"].(float64)
	return int64(f)
}

// fields returns the field names of a validation problem.
func (r reply) fields() []string {
	var out []string
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		m, _ := e.(map[string]any)
		f, _ := m["field"].(string)
		out = append(out, f)
	}
	return out
}

// do sends a request as user (empty: no Authorization) with body (a string
// is sent verbatim, anything else as JSON) and extra headers (name, value,
// ...).
func (e *env) do(method, path, user string, body any, headers ...string) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+"/v1"+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+keyOf(user))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// must checks the status and returns the reply.
func (e *env) must(want int, method, path, user string, body any, headers ...string) reply {
	e.t.Helper()
	r := e.do(method, path, user, body, headers...)
	if r.status != want {
		e.t.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, user, r.status, want, r.raw)
	}
	return r
}

// stream loads a stream.
func (e *env) stream(name string) []eventstore.Recorded {
	e.t.Helper()
	evs, _, err := e.store.LoadStream(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// registerCustomer registers a customer owned by owner and returns its id.
func (e *env) registerCustomer(user, owner string) string {
	e.t.Helper()
	body := map[string]any{"name": "ACME " + uuid.NewString()[:8]}
	if owner != "" {
		body["ownerId"] = owner
	}
	return e.must(201, "POST", "/customers", user, body).str("id")
}

// types returns the event types of a stream.
func types(evs []eventstore.Recorded) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}
