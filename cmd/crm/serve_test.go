package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/internal/redistest"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/churn"
)

const testAPIKey = "crm_test_key_0123456789abcdefghijklmnopqrstuvwxyz"

// inProcess is "crm serve" run in-process by serve().
type inProcess struct {
	t      *testing.T
	addr   string
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func serveInProcess(t *testing.T, cfg serveConfig) *inProcess {
	t.Helper()
	cfg.httpAddr = freeAddr(t)
	cfg.apiKeys = testAPIKey + " admin admin"
	if cfg.shutdownTimeout == 0 {
		cfg.shutdownTimeout = 15 * time.Second
	}
	p := &inProcess{t: t, addr: cfg.httpAddr, log: &syncBuffer{}, done: make(chan error, 1)}
	logger := slog.New(slog.NewJSONHandler(p.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- serve(ctx, func() {}, cfg, logger, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("crm serve log:\n%s", p.log.String())
		}
	})
	return p
}

// stop shuts the server down and requires a clean stop.
func (p *inProcess) stop() {
	p.t.Helper()
	p.cancel()
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("serve: %v", err)
		}
		p.done <- nil // for the cleanup
	case <-time.After(20 * time.Second):
		p.t.Fatal("serve did not stop within 20 s")
	}
}

// get answers the status, content type and body of GET url (with the key).
func (p *inProcess) get(path string) (int, string, []byte) {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", []byte(err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// waitFor polls path until it answers want (60 s at most).
func (p *inProcess) waitFor(path string, want int) []byte {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, body := p.get(path)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s never answered %d; last %d: %s", path, want, code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// register registers a customer through the command API and returns its id
// and the $all position of the event.
func (p *inProcess) register(name, owner string) (string, uint64) {
	p.t.Helper()
	resp, m := post(p.t, "http://"+p.addr+"/v1/customers", testAPIKey, fmt.Sprintf(`{"name":%q,"ownerId":%q}`, name, owner))
	if resp.StatusCode != http.StatusCreated {
		p.t.Fatalf("register %s: %d %v", name, resp.StatusCode, m)
	}
	pos, err := strconv.ParseUint(fmt.Sprint(m["position"]), 10, 64)
	if err != nil {
		p.t.Fatalf("position %v: %v", m["position"], err)
	}
	return fmt.Sprint(m["id"]), pos
}

// caughtUp waits until every projection serves a generation at or past pos.
func (p *inProcess) caughtUp(pos uint64) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, body := p.get("/projections")
		var st struct {
			Projections []projections.Status `json:"projections"`
		}
		ok := code == http.StatusOK && json.Unmarshal(body, &st) == nil && len(st.Projections) == len(allProjections())
		for _, s := range st.Projections {
			// Sparse projections' checkpoints lag behind the head: caught
			// up is "no event they handle after their checkpoint".
			ok = ok && s.Active != "" && s.Building == "" && s.Head >= pos && s.LagEvents == 0 && !s.LagEventsCapped && s.Parked == 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("projections not caught up with %d within 60 s: %d %s", pos, code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logLine returns the first JSON log line with msg.
func (p *inProcess) logLine(msg string) map[string]any {
	p.t.Helper()
	sc := bufio.NewScanner(strings.NewReader(p.log.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	return nil
}

// TestServeEmbeddedReadStore: without REDIS_URL, crm serve runs the
// projectors on the embedded read store: /readyz answers 200 once they have
// caught up, a registered customer is in the read models (in the embedded
// store's keys and through the query API), and after a restart (a new,
// empty embedded store) the read models are rebuilt from the log, /readyz
// answering 503 (naming the rebuilding projections) until then.
func TestServeEmbeddedReadStore(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	var id string
	var slow atomic.Bool
	wrap := func(ps []projections.Projection) []projections.Projection {
		out := make([]projections.Projection, len(ps))
		for i, p := range ps {
			out[i] = slowProjection{Projection: p, slow: &slow}
		}
		return out
	}
	for round := 1; round <= 2; round++ {
		slow.Store(round == 2) // the rebuild at the second start takes visible time
		p := serveInProcess(t, serveConfig{dataDir: data, logLevel: slog.LevelInfo, wrapProjections: wrap})
		if round == 2 {
			deadline := time.Now().Add(30 * time.Second)
			for {
				code, ctype, body := p.get("/readyz")
				if code == http.StatusServiceUnavailable && strings.HasPrefix(ctype, "application/problem+json") &&
					strings.Contains(string(body), "rebuilding from the event log") && strings.Contains(string(body), "customers") {
					break
				}
				if code == http.StatusOK || time.Now().After(deadline) {
					t.Fatalf("round 2: /readyz did not report the rebuild: %d %s", code, body)
				}
				time.Sleep(5 * time.Millisecond)
			}
			slow.Store(false)
		}
		body := p.waitFor("/readyz", http.StatusOK)
		if !strings.Contains(string(body), `"projections"`) {
			t.Fatalf("round %d: /readyz does not check the projections: %s", round, body)
		}
		line := p.logLine("REDIS_URL is not set: embedded read store in memory (the read models are rebuilt from the event log at every start; production uses Redis)")
		if line == nil {
			t.Fatalf("round %d: no embedded read store log line", round)
		}
		var pos uint64
		if round == 1 {
			id, pos = p.register("Embedded Ltd", "rep-7")
			for i := range 40 { // more history, for a rebuild that takes time
				_, pos = p.register(fmt.Sprintf("Other %02d", i), "rep-8")
			}
		}
		p.caughtUp(pos)
		if code, _, body := p.get("/v1/customers/" + id); code != http.StatusOK || !strings.Contains(string(body), "Embedded Ltd") {
			t.Fatalf("round %d: GET customer: %d %s", round, code, body)
		}

		// The keys are in the embedded store itself.
		rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprint(line["addr"])})
		ctx := context.Background()
		prefix, ok, err := projections.ActivePrefix(ctx, rdb, "customers")
		if err != nil || !ok {
			t.Fatalf("round %d: customers generation: %v %v", round, ok, err)
		}
		if n, err := rdb.Exists(ctx, prefix+"customer:"+id).Result(); err != nil || n != 1 {
			t.Errorf("round %d: customer key %scustomer:%s: %d %v", round, prefix, id, n, err)
		}
		doc, found, err := churn.ReadSignals(ctx, rdb, id)
		if err != nil || !found || doc.Name != "Embedded Ltd" || doc.OwnerID != "rep-7" {
			t.Errorf("round %d: churn signals: %+v %v %v", round, doc, found, err)
		}
		// The scorer runs on the embedded store too.
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, found, err := churn.ReadRisk(ctx, rdb, id)
			if err == nil && found && r.Name == "Embedded Ltd" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no churn risk: %+v %v %v", round, r, found, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = rdb.Close()
		p.stop()
	}
}

// slowProjection delays every event while slow is set, so that a rebuild
// takes visible time.
type slowProjection struct {
	projections.Projection
	slow *atomic.Bool
}

func (s slowProjection) Handle(ctx context.Context, tx projections.Tx, e projections.Event) error {
	if s.slow.Load() {
		time.Sleep(3 * time.Millisecond)
	}
	return s.Projection.Handle(ctx, tx, e)
}

// TestReadyzDuringRedisLoss: serving with REDIS_URL, a FLUSHALL and then a
// Redis restart each make the projectors rebuild every read model from the
// log; meanwhile /readyz answers 503 with a problem naming the rebuilding
// projections, then 200, and the read models equal what they were before.
func TestReadyzDuringRedisLoss(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	var slow atomic.Bool
	wrap := func(ps []projections.Projection) []projections.Projection {
		out := make([]projections.Projection, len(ps))
		for i, p := range ps {
			out[i] = slowProjection{Projection: p, slow: &slow}
		}
		return out
	}
	p := serveInProcess(t, serveConfig{dataDir: t.TempDir(), redisURL: r.URL(), logLevel: slog.LevelInfo,
		churn: churnConfig{NoWarnings: true}, wrapProjections: wrap})
	p.waitFor("/readyz", http.StatusOK)
	var last uint64
	for i := range 60 {
		id, _ := p.register(fmt.Sprintf("Customer %02d", i), fmt.Sprintf("rep-%d", i%4))
		resp, m := post(t, "http://"+p.addr+"/v1/customers/"+id+"/interactions", testAPIKey,
			`{"channel":"call","occurredAt":"2026-01-05T10:00:00Z","summary":"quarterly call"}`)
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			t.Fatalf("interaction: %d %v", resp.StatusCode, m)
		}
		last, _ = strconv.ParseUint(fmt.Sprint(m["position"]), 10, 64)
	}
	p.caughtUp(last)
	before := redistest.DumpServed(t, r.Client, allProjections(), projections.ActivePrefix)
	if len(before) < 100 {
		t.Fatalf("only %d read-model keys", len(before))
	}

	for _, loss := range []struct {
		name string
		do   func()
	}{
		{"FLUSHALL", r.FlushAll},
		{"restart", r.Restart},
	} {
		slow.Store(true)
		loss.do()
		// 503 with a problem naming the rebuilding projections.
		deadline := time.Now().Add(30 * time.Second)
		var problem map[string]any
		for problem == nil {
			code, ctype, body := p.get("/readyz")
			if code == http.StatusServiceUnavailable {
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil || !strings.HasPrefix(ctype, "application/problem+json") {
					t.Fatalf("%s: 503 that is no problem+json (%s): %s", loss.name, ctype, body)
				}
				if d, _ := m["detail"].(string); strings.Contains(d, "rebuilding") {
					problem = m
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /readyz never reported the rebuild; last %d %s", loss.name, code, body)
			}
			time.Sleep(5 * time.Millisecond)
		}
		detail := problem["detail"].(string)
		if !strings.Contains(detail, "customers") || problem["status"] != 503.0 {
			t.Errorf("%s: problem %v does not name the rebuilding customers projection", loss.name, problem)
		}
		t.Logf("%s: /readyz: %s", loss.name, detail)
		slow.Store(false)
		p.waitFor("/readyz", http.StatusOK)
		p.caughtUp(last)
		if diff := cmp.Diff(before, redistest.DumpServed(t, r.Client, allProjections(), projections.ActivePrefix)); diff != "" {
			t.Errorf("%s: read models after the rebuild differ (-before +after):\n%s", loss.name, diff)
		}
	}
	p.stop()
}

// TestChurnFlags: the scorer's flags of crm serve and crm project, and
// their errors naming the flag.
func TestChurnFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    churnConfig
		wantErr string
	}{
		{args: nil, want: churnConfig{}},
		{args: []string{"--churn-interval", "30m", "--churn-rule-months", "3", "--no-churn-warnings"},
			want: churnConfig{Interval: 30 * time.Minute, RuleMonths: 3, NoWarnings: true}},
		{args: []string{"--churn-interval", "-1s"}, wantErr: "--churn-interval must not be negative"},
		{args: []string{"--churn-interval", "10ms"}, wantErr: "--churn-interval must be at least 1s"},
		{args: []string{"--churn-rule-months", "200"}, wantErr: "--churn-rule-months must be from 1 to 120"},
		{args: []string{"--churn-rule-months", "-2"}, wantErr: "--churn-rule-months must be from 1 to 120"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			env := map[string]string{"REDIS_URL": "redis://localhost:6379/0"}
			scfg, serr := parseServeConfig(tc.args, envMap(env), io.Discard)
			pcfg, _, perr := parseProjectConfig("crm project", tc.args, envMap(env), io.Discard, projectUsage, true)
			for name, got := range map[string]struct {
				cfg churnConfig
				err error
			}{"serve": {scfg.churn, serr}, "project": {pcfg.churn, perr}} {
				if tc.wantErr != "" {
					if got.err == nil || !strings.Contains(got.err.Error(), tc.wantErr) {
						t.Errorf("%s: error %v, want %q", name, got.err, tc.wantErr)
					}
					continue
				}
				if got.err != nil {
					t.Fatalf("%s: %v", name, got.err)
				}
				if diff := cmp.Diff(tc.want, got.cfg); diff != "" {
					t.Errorf("%s (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}
