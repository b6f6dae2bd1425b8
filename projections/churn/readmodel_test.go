package churn_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/importer"
	"github.com/crm-es/crm/internal/redistest"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/churn"
)

// env is a real embedded event store, a real redis-server and the command
// handlers with a settable clock (the business time of what they record).
type env struct {
	store *eventstore.Store
	r     *redistest.Server
	h     *commands.Handlers

	mu  sync.Mutex
	now time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{r: redistest.Start(t), now: time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)}
	store, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	e.store = store
	e.h = commands.New(commands.Config{Store: store, Now: e.clock})
	return e
}

func (e *env) clock() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }

func (e *env) setClock(t time.Time) { e.mu.Lock(); e.now = t; e.mu.Unlock() }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

var admin = commands.Options{Actor: commands.Actor{UserID: "admin", Roles: []string{"admin"}}}

// register registers a customer at the clock's time.
func (e *env) register(t *testing.T, name, owner string) uuid.UUID {
	t.Helper()
	res, err := e.h.RegisterCustomer(context.Background(), admin, commands.RegisterCustomer{
		RegisterCustomer: domain.RegisterCustomer{Profile: domain.Profile{Name: name}, OwnerID: owner}})
	if err != nil {
		t.Fatal(err)
	}
	return uuid.MustParse(res.ID)
}

// order places an order of amount at at.
func (e *env) order(t *testing.T, id uuid.UUID, at time.Time, amount int64) {
	t.Helper()
	// The order is recorded when it is placed (as the importer records
	// history): a business time may not lie in the command's future.
	e.mu.Lock()
	saved := e.now
	e.now = later(saved, at)
	e.mu.Unlock()
	defer e.setClock(saved)
	_, err := e.h.PlaceOrder(context.Background(), admin, commands.PlaceOrder{PlaceOrder: domain.PlaceOrder{
		CustomerID: id, OrderedAt: at, Currency: "GBP",
		Lines: []domain.OrderLine{{SKU: "SKU-1", Quantity: domain.DecimalFromInt(1), UnitPrice: domain.DecimalFromInt(amount)}}}})
	if err != nil {
		t.Fatal(err)
	}
}

// monthly places one order a month from first through last (inclusive).
func (e *env) monthly(t *testing.T, id uuid.UUID, first, last time.Time) {
	t.Helper()
	for at := first; !at.After(last); at = at.AddDate(0, 1, 0) {
		e.order(t, id, at, 250)
	}
}

// project runs the churn projection (with its document cache, as in
// production) on rdb until the test ends.
func (e *env) project(t *testing.T, rdb *redis.Client) (*projections.Runtime, context.CancelFunc, chan struct{}) {
	t.Helper()
	return e.projectWith(t, rdb, churn.NewProjection())
}

func (e *env) projectWith(t *testing.T, rdb *redis.Client, p churn.Projection) (*projections.Runtime, context.CancelFunc, chan struct{}) {
	t.Helper()
	rt, err := projections.NewRuntime(projections.RuntimeConfig{Store: e.store, Redis: rdb, Codec: commands.NewCodec(),
		Projections: []projections.Projection{p}, LeaseTTL: 500 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return rt, cancel, done
}

// caughtUp waits until rt's churn projection serves a generation that has
// passed the store's head.
func (e *env) caughtUp(t *testing.T, rt *projections.Runtime) {
	t.Helper()
	head, err := e.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		sts, err := rt.Status(context.Background())
		if err == nil && len(sts) == 1 && sts[0].Active != "" && sts[0].Building == "" && sts[0].Checkpoint >= head.Commit {
			if sts[0].Parked != 0 {
				t.Fatalf("%d events parked: %+v", sts[0].Parked, sts[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("churn projection not caught up with %d within 30 s: %+v (%v)", head.Commit, sts, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSignalsProjectionDeterministic: the signals read model after a
// projector restart in the middle of an import, and after replaying the
// whole log over the existing keys (checkpoint moved back to the start),
// equals a clean build.
func TestSignalsProjectionDeterministic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, cancel1, done1 := e.project(t, e.r.Client)
	imported := make(chan error, 1)
	go func() {
		f, err := os.Open("../../importer/testdata/online-retail-slice.csv")
		if err != nil {
			imported <- err
			return
		}
		defer f.Close()
		_, err = importer.ImportOnlineRetail(ctx, e.store, f, importer.Options{Workers: 4})
		imported <- err
	}()
	// CRM events beside the orders: profile, owner, complaints, feedback.
	e.setClock(time.Date(2011, 6, 1, 9, 0, 0, 0, time.UTC))
	id := e.register(t, "Old Name", "rep-1")
	if _, err := e.h.ChangeCustomerProfile(ctx, admin, id, domain.ProfileChange{Name: ptr("New Name")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.AssignCustomerOwner(ctx, admin, id, "rep-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.LogInteraction(ctx, admin, id, "", domain.Interaction{Channel: "call", OccurredAt: e.clock(), Summary: "call"}); err != nil {
		t.Fatal(err)
	}
	// More customers with orders and complaints; the projector restarts
	// halfway through.
	for i := range 16 {
		if i == 8 {
			cancel1()
			<-done1
			_, cancel1, done1 = e.project(t, e.r.Client)
		}
		c := e.register(t, fmt.Sprintf("Customer %d", i), fmt.Sprintf("rep-%d", i%3))
		e.monthly(t, c, time.Date(2011, 1, 5, 0, 0, 0, 0, time.UTC).AddDate(0, i%5, 0), time.Date(2011, 9, 5, 0, 0, 0, 0, time.UTC))
		if i%4 == 0 {
			if _, err := e.h.OpenServiceRequest(ctx, admin, commands.OpenServiceRequest{OpenServiceRequest: domain.OpenServiceRequest{
				CustomerID: c, Type: domain.ServiceComplaint, Title: "late", Request: "the parcel is late"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cancel1() // and again in the middle of the import
	<-done1
	rt, cancel2, done2 := e.project(t, e.r.Client)
	if err := <-imported; err != nil {
		t.Fatal(err)
	}
	e.caughtUp(t, rt)

	clean := e.r.NewClient(1)
	rtClean, _, _ := e.projectWith(t, clean, churn.Projection{}) // the zero value: no cache
	e.caughtUp(t, rtClean)
	want := dump(t, clean)
	if n := len(want); n < 20 {
		t.Fatalf("only %d keys in the clean build", n)
	}
	if diff := cmp.Diff(want, dump(t, e.r.Client)); diff != "" {
		t.Errorf("after a restart (-clean +restarted):\n%s", diff)
	}

	// Replay every event over the existing keys: stop, move the served
	// generation's checkpoint back to the start, run again.
	cancel2()
	<-done2
	gen, err := e.r.Client.Get(ctx, projections.AliasKey(churn.ProjectionName)).Result()
	if err != nil {
		t.Fatal(err)
	}
	cpKey := "crm:" + churn.ProjectionName + ":meta:gen:" + gen + ":checkpoint"
	if err := e.r.Client.Set(ctx, cpKey, fmt.Sprintf("%020d:%020d", 0, 0), 0).Err(); err != nil {
		t.Fatal(err)
	}
	rt3, _, _ := e.project(t, e.r.Client)
	e.caughtUp(t, rt3)
	if diff := cmp.Diff(want, dump(t, e.r.Client)); diff != "" {
		t.Errorf("after replaying the log over the keys (-clean +replayed):\n%s", diff)
	}

	doc, ok, err := churn.ReadSignals(ctx, e.r.Client, id.String())
	if err != nil || !ok {
		t.Fatalf("ReadSignals: %v %v", ok, err)
	}
	if doc.Name != "New Name" || doc.OwnerID != "rep-2" || doc.Signals.Interactions != 1 || doc.Signals.Status != domain.CustomerStatusActive {
		t.Errorf("signals document: %+v", doc)
	}
}

func ptr[T any](v T) *T { return &v }

func asDomain(err error, de **domain.Error) bool { return errors.As(err, de) }

// warner is the production adapter's shape over the real command handlers.
type warner struct{ h *commands.Handlers }

func (w warner) WarnChurn(ctx context.Context, id uuid.UUID, cw domain.ChurnWarning, key string) (bool, error) {
	res, err := w.h.WarnChurn(ctx, commands.Options{Actor: commands.Actor{UserID: "churn-scorer"}, IdempotencyKey: key}, id, cw)
	return res.Changed && !res.Replayed, err
}

func (w warner) ClearChurn(ctx context.Context, id uuid.UUID, reason, key string) (bool, error) {
	res, err := w.h.ClearChurn(ctx, commands.Options{Actor: commands.Actor{UserID: "churn-scorer"}, IdempotencyKey: key}, id, reason)
	return res.Changed && !res.Replayed, err
}

// warnings returns the ChurnWarningRaised events of a customer's stream.
func (e *env) warnings(t *testing.T, id uuid.UUID) []domain.ChurnWarningRaised {
	t.Helper()
	evs, _, err := e.store.LoadStream(context.Background(), domain.CustomerStream(id))
	if err != nil {
		t.Fatal(err)
	}
	codec := commands.NewCodec()
	var out []domain.ChurnWarningRaised
	for _, ev := range evs {
		if ev.Type != domain.TypeChurnWarningRaised {
			continue
		}
		d, err := codec.DecodeRecorded(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, derefWarning(d))
	}
	return out
}

func derefWarning(v any) domain.ChurnWarningRaised {
	switch w := v.(type) {
	case domain.ChurnWarningRaised:
		return w
	case *domain.ChurnWarningRaised:
		return *w
	}
	panic(fmt.Sprintf("not a warning: %T", v))
}

func (e *env) scorer(t *testing.T, now *time.Time, months int) *churn.Scorer {
	t.Helper()
	var mu sync.Mutex
	s, err := churn.NewScorer(churn.ScorerConfig{Redis: e.r.Client, Warner: warner{e.h}, RuleMonths: months,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func scoreAll(t *testing.T, s *churn.Scorer) churn.PassStats {
	t.Helper()
	st, ok, err := s.ScoreAll(context.Background())
	if err != nil || !ok || st.Failed != 0 {
		t.Fatalf("ScoreAll: %+v ok=%v err=%v", st, ok, err)
	}
	return st
}

func readRisk(t *testing.T, rdb *redis.Client, id uuid.UUID) churn.Risk {
	t.Helper()
	r, ok, err := churn.ReadRisk(context.Background(), rdb, id.String())
	if err != nil || !ok {
		t.Fatalf("ReadRisk %s: found=%v err=%v", id, ok, err)
	}
	return r
}

// TestScorerAndWarnings: the scorer writes explained scores and rankings,
// warns a customer crossing into high exactly once per day (scorer run
// twice, two scorers at once), warns by the N-month rule, and never warns
// an at-risk customer again.
func TestScorerAndWarnings(t *testing.T) {
	e := newEnv(t)
	rt, _, _ := e.project(t, e.r.Client)

	e.setClock(time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC))
	steady := e.register(t, "Steady", "rep-1")
	fading := e.register(t, "Fading", "rep-1")
	e.monthly(t, steady, time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC))
	e.monthly(t, fading, time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 12, 10, 0, 0, 0, 0, time.UTC))
	e.caughtUp(t, rt)

	// Day 1: nobody is high yet, no rule fires (last orders within 6 months).
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	s := e.scorer(t, &now, 0)
	if st := scoreAll(t, s); st.Scored != 2 || st.Warned != 0 {
		t.Fatalf("day 1: %+v", st)
	}
	r := readRisk(t, e.r.Client, fading)
	if r.Band == churn.BandHigh || r.Name != "Fading" || r.OwnerID != "rep-1" || r.Status != domain.CustomerStatusActive || !r.ScoredAt.Equal(now) {
		t.Fatalf("fading on day 1: %+v", r)
	}
	sum := 0.0
	for _, reason := range r.Reasons {
		if reason.Signal == "" || reason.Detail == "" {
			t.Errorf("reason without signal or detail: %+v", reason)
		}
		sum += reason.Contribution
	}
	if d := sum - r.Value; r.Value > 0 && r.Value < 100 && (d > 0.05 || d < -0.05) {
		t.Errorf("contributions sum to %.1f, value %.1f", sum, r.Value)
	}

	// A year after its last order the fading customer has crossed into
	// high: one warning, even when the scorer runs twice and two scorers
	// run at once.
	now = time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); scoreAll(t, e.scorer(t, &now, 0)) }()
	}
	wg.Wait()
	scoreAll(t, s)
	ws := e.warnings(t, fading)
	if len(ws) != 1 || ws[0].Why != domain.ChurnWhyScore || ws[0].Score == nil || *ws[0].Score < churn.HighFrom || len(ws[0].Signals) == 0 {
		t.Fatalf("fading's warnings: %+v", ws)
	}
	if r := readRisk(t, e.r.Client, fading); r.Band != churn.BandHigh {
		t.Errorf("fading on day 2: %+v", r)
	}
	if r := readRisk(t, e.r.Client, steady); r.Band == churn.BandHigh || r.Rule.Fires {
		t.Errorf("steady on day 2: %+v", r)
	}

	// The warning reached the signals: at risk; the next day nothing more.
	e.caughtUp(t, rt)
	now = now.AddDate(0, 0, 1)
	scoreAll(t, s)
	if r := readRisk(t, e.r.Client, fading); r.Status != domain.CustomerStatusAtRisk {
		t.Errorf("fading after its warning: status %s", r.Status)
	}
	if ws := e.warnings(t, fading); len(ws) != 1 {
		t.Errorf("at-risk customer warned again: %d warnings", len(ws))
	}
	if ws := e.warnings(t, steady); len(ws) != 0 {
		t.Errorf("steady customer warned: %+v", ws)
	}
}

// TestRuleWarning: the N-month rule warns an active customer that is not
// high (here N = 1: the last order 41 days ago, a customer for two years).
func TestRuleWarning(t *testing.T) {
	e := newEnv(t)
	rt, _, _ := e.project(t, e.r.Client)
	quiet := e.register(t, "Quiet", "rep-2")
	fresh := e.register(t, "Fresh", "rep-2")
	e.monthly(t, quiet, time.Date(2025, 11, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 12, 10, 0, 0, 0, 0, time.UTC))
	e.order(t, fresh, time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), 100)
	e.caughtUp(t, rt)
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	if st := scoreAll(t, e.scorer(t, &now, 1)); st.Warned != 1 {
		t.Errorf("warned %d, want 1", st.Warned)
	}
	rq := readRisk(t, e.r.Client, quiet)
	ws := e.warnings(t, quiet)
	if !rq.Rule.Fires || rq.Rule.Months != 1 || rq.Band == churn.BandHigh || len(ws) != 1 {
		t.Fatalf("quiet: risk %+v, warnings %+v", rq, ws)
	}
	if ws[0].Why != domain.ChurnWhyRule || ws[0].Score != nil {
		t.Errorf("quiet warned for %q (score %v), want rule", ws[0].Why, ws[0].Score)
	}
	if got := ws[0].Signals[len(ws[0].Signals)-1]; got.Signal != churn.SignalRule || got.Detail == "" {
		t.Errorf("rule warning's last signal: %+v", got)
	}
	if ws := e.warnings(t, fresh); len(ws) != 0 {
		t.Errorf("fresh customer warned: %+v", ws)
	}
}

// TestListRisks: ranking, filters, stable cursor paging and the report.
func TestListRisks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, _, _ := e.project(t, e.r.Client)
	e.setClock(time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC))
	var ids []uuid.UUID
	for i := range 23 {
		id := e.register(t, fmt.Sprintf("C%02d", i), []string{"rep-a", "rep-b", ""}[i%3])
		// Different histories give different scores; some tie.
		last := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC).AddDate(0, -2*(i%8), 0)
		e.monthly(t, id, last.AddDate(0, -(i%4), 0), last)
		ids = append(ids, id)
	}
	e.caughtUp(t, rt)
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	s, err := churn.NewScorer(churn.ScorerConfig{Redis: e.r.Client, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	scoreAll(t, s)

	all := map[string]churn.Risk{}
	for _, id := range ids {
		all[id.String()] = readRisk(t, e.r.Client, id)
	}
	ranked := func(band churn.Band, owner string) []string {
		var out []churn.Risk
		for _, r := range all {
			if (band == "" || r.Band == band) && (owner == "" || r.OwnerID == owner) {
				out = append(out, r)
			}
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Value != out[j].Value {
				return out[i].Value > out[j].Value
			}
			return out[i].CustomerID < out[j].CustomerID
		})
		var ids []string
		for _, r := range out {
			ids = append(ids, r.CustomerID)
		}
		return ids
	}
	page := func(band churn.Band, owner string, limit int) []string {
		var got []string
		cursor := ""
		for range 100 {
			items, next, err := churn.ListRisks(ctx, e.r.Client, band, owner, cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) > limit || (next != "" && len(items) != limit) {
				t.Fatalf("page of %d with next %q (limit %d)", len(items), next, limit)
			}
			for _, r := range items {
				got = append(got, r.CustomerID)
			}
			if next == "" {
				return got
			}
			cursor = next
		}
		t.Fatal("paging does not end")
		return nil
	}
	bands := map[churn.Band]int{}
	for _, r := range all {
		bands[r.Band]++
	}
	for _, tc := range []struct {
		band  churn.Band
		owner string
		limit int
	}{
		{"", "", 7}, {"", "", 23}, {"", "", 200}, {"", "rep-a", 2}, {churn.BandHigh, "", 3},
		{churn.BandMedium, "", 1}, {churn.BandLow, "", 5}, {churn.BandHigh, "rep-b", 2}, {"", "nobody", 5},
	} {
		t.Run(fmt.Sprintf("%s-%s-%d", tc.band, tc.owner, tc.limit), func(t *testing.T) {
			want := ranked(tc.band, tc.owner)
			if diff := cmp.Diff(want, page(tc.band, tc.owner, tc.limit)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if len(bands) < 2 {
		t.Errorf("all customers in one band: %v", bands)
	}

	// Bad input names the field.
	for _, tc := range []struct {
		band   churn.Band
		cursor string
		limit  int
		field  string
	}{
		{"extreme", "", 10, "band"}, {"", "", 0, "limit"}, {"", "", 201, "limit"},
		{"", "garbage", 10, "cursor"}, {"", "1001:" + ids[0].String(), 10, "cursor"},
	} {
		_, _, err := churn.ListRisks(ctx, e.r.Client, tc.band, "", tc.cursor, tc.limit)
		var de *domain.Error
		if !asDomain(err, &de) || de.Kind != domain.KindInvalid || len(de.Fields) != 1 || de.Fields[0].Field != tc.field {
			t.Errorf("%+v: %v, want invalid %s", tc, err, tc.field)
		}
	}

	// Rescoring later (scores move) and a new owner leave each customer in
	// exactly the rankings of its new document.
	if _, err := e.h.AssignCustomerOwner(ctx, admin, ids[0], "rep-new"); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(t, rt)
	now = now.AddDate(0, 3, 0)
	scoreAll(t, s)
	for _, id := range ids {
		all[id.String()] = readRisk(t, e.r.Client, id)
	}
	if all[ids[0].String()].OwnerID != "rep-new" {
		t.Fatalf("owner not updated: %+v", all[ids[0].String()])
	}
	for _, tc := range []struct {
		band  churn.Band
		owner string
	}{{"", ""}, {churn.BandHigh, ""}, {churn.BandMedium, ""}, {churn.BandLow, ""}, {"", "rep-new"}, {"", "rep-a"}, {churn.BandHigh, "rep-a"}} {
		if diff := cmp.Diff(ranked(tc.band, tc.owner), page(tc.band, tc.owner, 4)); diff != "" {
			t.Errorf("after rescoring, %s/%s (-want +got):\n%s", tc.band, tc.owner, diff)
		}
		if n := e.r.Client.ZCard(ctx, churn.RankKey(tc.band, tc.owner)).Val(); n != int64(len(ranked(tc.band, tc.owner))) {
			t.Errorf("after rescoring, %s/%s holds %d members, want %d", tc.band, tc.owner, n, len(ranked(tc.band, tc.owner)))
		}
	}
	bands = map[churn.Band]int{}
	for _, r := range all {
		bands[r.Band]++
	}

	rep, err := churn.ReadRiskReport(ctx, e.r.Client)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scored != 23 || rep.Bands.Low+rep.Bands.Medium+rep.Bands.High != 23 || rep.Bands.High != int64(bands[churn.BandHigh]) ||
		rep.Rule.Months != churn.DefaultRuleMonths || rep.ScoredAt == nil || !rep.ScoredAt.Equal(now) {
		t.Errorf("report: %+v (bands %v)", rep, bands)
	}
	firing := 0
	for _, r := range all {
		if r.Rule.Fires {
			firing++
		}
	}
	if rep.Rule.Firing != int64(firing) || firing == 0 {
		t.Errorf("rule firing %d, want %d (> 0)", rep.Rule.Firing, firing)
	}
}

// flakyWarner fails its first call (the command side unavailable), then
// passes through.
type flakyWarner struct {
	churn.Warner
	mu    sync.Mutex
	calls int
}

func (f *flakyWarner) WarnChurn(ctx context.Context, id uuid.UUID, w domain.ChurnWarning, key string) (bool, error) {
	f.mu.Lock()
	f.calls++
	first := f.calls == 1
	f.mu.Unlock()
	if first {
		return false, &domain.Error{Kind: domain.KindUnavailable, Message: "event store unavailable"}
	}
	return f.Warner.WarnChurn(ctx, id, w, key)
}

// TestFailedWarningRetried: a warning that fails leaves no risk document
// and is retried at the next step, without waiting for a full pass.
func TestFailedWarningRetried(t *testing.T) {
	e := newEnv(t)
	rt, _, _ := e.project(t, e.r.Client)
	id := e.register(t, "Gone", "rep-1")
	e.order(t, id, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), 100)
	e.caughtUp(t, rt)
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	fw := &flakyWarner{Warner: warner{e.h}}
	s, err := churn.NewScorer(churn.ScorerConfig{Redis: e.r.Client, Warner: fw, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Step(ctx); err != nil { // the first full pass: the warning fails
		t.Fatal(err)
	}
	if _, found, _ := churn.ReadRisk(ctx, e.r.Client, id.String()); found || len(e.warnings(t, id)) != 0 {
		t.Fatalf("after a failed warning: document found=%v, warnings %d", found, len(e.warnings(t, id)))
	}
	if err := s.Step(ctx); err != nil { // incremental: nothing changed, but the retry
		t.Fatal(err)
	}
	if ws := e.warnings(t, id); len(ws) != 1 {
		t.Fatalf("warnings after the retry: %d", len(ws))
	}
	if r := readRisk(t, e.r.Client, id); r.Band != churn.BandHigh {
		t.Errorf("risk after the retry: %+v", r)
	}
}

// dump returns every key of the churn projection's served generation.
func dump(t *testing.T, rdb *redis.Client) map[string]string {
	t.Helper()
	prefix, ok, err := projections.ActivePrefix(context.Background(), rdb, churn.ProjectionName)
	if err != nil || !ok {
		t.Fatalf("no active churn generation (%v)", err)
	}
	return redistest.Dump(t, rdb, prefix)
}

// churnEvents returns the types of a customer's churn-status events
// (warnings raised and cleared, churn confirmed, reactivations), in order.
func (e *env) churnEvents(t *testing.T, id uuid.UUID) []string {
	t.Helper()
	evs, _, err := e.store.LoadStream(context.Background(), domain.CustomerStream(id))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		switch ev.Type {
		case domain.TypeChurnWarningRaised, domain.TypeChurnWarningCleared, domain.TypeChurnConfirmed, domain.TypeCustomerReactivated:
			out = append(out, ev.Type)
		}
	}
	return out
}

// TestAutomaticClearing: a customer warned by the N-month rule who orders
// again (the rule no longer fires, the score is low) has its warning
// cleared by the scorer, once (the scorer run twice, two scorers at once,
// and the next day), and is active again; a customer still quiet stays at
// risk, and a lost customer is never cleared.
func TestAutomaticClearing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, _, _ := e.project(t, e.r.Client)
	returning := e.register(t, "Returning", "rep-1")
	quiet := e.register(t, "Quiet", "rep-1")
	lost := e.register(t, "Lost", "rep-1")
	for _, id := range []uuid.UUID{returning, quiet, lost} {
		e.monthly(t, id, time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC))
	}
	e.caughtUp(t, rt)

	// More than six months without an order: all three are warned.
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	s := e.scorer(t, &now, 6)
	if st := scoreAll(t, s); st.Warned != 3 || st.Cleared != 0 {
		t.Fatalf("warning day: %+v", st)
	}
	// The returning and the lost customer order again every month; the
	// lost one is then confirmed lost by a user all the same.
	e.monthly(t, returning, time.Date(2026, 1, 21, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC))
	e.monthly(t, lost, time.Date(2026, 1, 21, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC))
	if _, err := e.h.ConfirmChurn(ctx, admin, lost, "moved to a competitor"); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(t, rt)

	now = time.Date(2026, 6, 20, 12, 0, 0, 0, time.UTC)
	if doc, ok, err := churn.ReadSignals(ctx, e.r.Client, returning.String()); err != nil || !ok || doc.Signals.Status != domain.CustomerStatusAtRisk {
		t.Fatalf("returning before the clearing day: %+v (%v, %v)", doc, ok, err)
	}
	st := scoreAll(t, s)
	if r := readRisk(t, e.r.Client, returning); r.Band != churn.BandLow || r.Rule.Fires {
		t.Fatalf("returning customer not low (the test's premise): %+v", r)
	}
	if r := readRisk(t, e.r.Client, lost); r.Band != churn.BandLow || r.Status != domain.CustomerStatusLost {
		t.Fatalf("lost customer not low and lost (the test's premise): %+v", r)
	}
	if st.Cleared != 1 || st.Warned != 0 {
		t.Errorf("clearing day: %+v, want 1 cleared", st)
	}
	// The same day again, and two more scorers at once: nothing more.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if st := scoreAll(t, e.scorer(t, &now, 6)); st.Cleared != 0 {
				t.Errorf("another scorer the same day cleared %d", st.Cleared)
			}
		})
	}
	wg.Wait()
	if st := scoreAll(t, s); st.Cleared != 0 {
		t.Errorf("the same day again: %+v", st)
	}

	// Once the clearing reached the signals the customer is active; the
	// next day nothing more happens.
	e.caughtUp(t, rt)
	now = now.AddDate(0, 0, 1)
	if st := scoreAll(t, s); st.Cleared != 0 || st.Warned != 0 {
		t.Errorf("the next day: %+v", st)
	}
	if r := readRisk(t, e.r.Client, returning); r.Status != domain.CustomerStatusActive {
		t.Errorf("returning customer after the clearing: status %s", r.Status)
	}
	for _, tc := range []struct {
		name string
		id   uuid.UUID
		want []string
	}{
		{"returning", returning, []string{domain.TypeChurnWarningRaised, domain.TypeChurnWarningCleared}},
		{"quiet", quiet, []string{domain.TypeChurnWarningRaised}},
		{"lost", lost, []string{domain.TypeChurnWarningRaised, domain.TypeChurnConfirmed}},
	} {
		if diff := cmp.Diff(tc.want, e.churnEvents(t, tc.id)); diff != "" {
			t.Errorf("%s's churn events (-want +got):\n%s", tc.name, diff)
		}
	}
	if r := readRisk(t, e.r.Client, quiet); r.Status != domain.CustomerStatusAtRisk || !r.Rule.Fires {
		t.Errorf("quiet customer: %+v", r)
	}
	ws := e.warnings(t, returning)
	evs, _, err := e.store.LoadStream(ctx, domain.CustomerStream(returning))
	if err != nil {
		t.Fatal(err)
	}
	last, err := commands.NewCodec().DecodeRecorded(evs[len(evs)-1])
	if err != nil {
		t.Fatal(err)
	}
	cleared, ok := last.(domain.ChurnWarningCleared)
	if p, isPtr := last.(*domain.ChurnWarningCleared); isPtr {
		cleared, ok = *p, true
	}
	if !ok || !strings.Contains(cleared.Reason, "band low") || !cleared.ClearedAt.Equal(e.clock()) || len(ws) != 1 {
		t.Errorf("the clearing event: %+v (%T), warnings %d", last, last, len(ws))
	}
}

// TestRankingActiveAndAtRiskOnly: the rankings, the rule set and the report
// count the active and at-risk customers only; a lost customer keeps its
// risk document but leaves every ranking (at its next scoring, full or
// incremental), and returns once reactivated.
func TestRankingActiveAndAtRiskOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, _, _ := e.project(t, e.r.Client)
	steady := e.register(t, "Steady", "rep-1")
	quiet := e.register(t, "Quiet", "rep-1")
	gone := e.register(t, "Gone", "rep-2")
	e.monthly(t, steady, time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC))
	e.monthly(t, quiet, time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 5, 10, 0, 0, 0, 0, time.UTC))
	e.order(t, gone, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), 100) // the highest score of all
	if _, err := e.h.ConfirmChurn(ctx, admin, gone, "closed the shop"); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(t, rt)
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	s := e.scorer(t, &now, 6)

	// check compares every ranking, the rule set and the report with the
	// customers expected in them (by id), and the lost customers' documents.
	check := func(t *testing.T, ranked []uuid.UUID, firing []uuid.UUID, lost []uuid.UUID) {
		t.Helper()
		risks := map[string]churn.Risk{}
		for _, id := range ranked {
			risks[id.String()] = readRisk(t, e.r.Client, id)
		}
		want := func(band churn.Band, owner string) []string {
			var out []churn.Risk
			for _, r := range risks {
				if (band == "" || r.Band == band) && (owner == "" || r.OwnerID == owner) {
					out = append(out, r)
				}
			}
			sort.Slice(out, func(i, j int) bool {
				return churn.RankMember(out[i].Value, out[i].CustomerID) < churn.RankMember(out[j].Value, out[j].CustomerID)
			})
			ids := []string{}
			for _, r := range out {
				ids = append(ids, r.CustomerID)
			}
			return ids
		}
		for _, band := range []churn.Band{"", churn.BandLow, churn.BandMedium, churn.BandHigh} {
			for _, owner := range []string{"", "rep-1", "rep-2"} {
				items, _, err := churn.ListRisks(ctx, e.r.Client, band, owner, "", churn.MaxListLimit)
				if err != nil {
					t.Fatal(err)
				}
				got := []string{}
				for _, r := range items {
					got = append(got, r.CustomerID)
				}
				if diff := cmp.Diff(want(band, owner), got); diff != "" {
					t.Errorf("ListRisks(%q, %q) (-want +got):\n%s", band, owner, diff)
				}
				if n := e.r.Client.ZCard(ctx, churn.RankKey(band, owner)).Val(); n != int64(len(want(band, owner))) {
					t.Errorf("%s holds %d members, want %d", churn.RankKey(band, owner), n, len(want(band, owner)))
				}
			}
		}
		wantRule := []string{}
		for _, id := range firing {
			wantRule = append(wantRule, id.String())
		}
		gotRule := e.r.Client.SMembers(ctx, churn.RuleKey).Val()
		sort.Strings(wantRule)
		sort.Strings(gotRule)
		if diff := cmp.Diff(wantRule, gotRule); diff != "" {
			t.Errorf("rule set (-want +got):\n%s", diff)
		}
		rep, err := churn.ReadRiskReport(ctx, e.r.Client)
		if err != nil {
			t.Fatal(err)
		}
		wantCounts := churn.RiskReport{Scored: int64(len(ranked)), Bands: churn.BandCounts{Low: int64(len(want(churn.BandLow, ""))),
			Medium: int64(len(want(churn.BandMedium, ""))), High: int64(len(want(churn.BandHigh, "")))},
			Rule: churn.RuleCounts{Months: 6, Firing: int64(len(firing))}}
		gotCounts := churn.RiskReport{Scored: rep.Scored, Bands: rep.Bands, Rule: rep.Rule}
		if diff := cmp.Diff(wantCounts, gotCounts); diff != "" {
			t.Errorf("report counts (-want +got):\n%s", diff)
		}
		for _, id := range lost {
			if r := readRisk(t, e.r.Client, id); r.Status != domain.CustomerStatusLost || !r.Rule.Fires {
				t.Errorf("lost customer's risk document: %+v", r)
			}
		}
	}

	// The first pass warns the quiet customer (the rule); once that reached
	// the signals it is at risk, and still ranked.
	scoreAll(t, s)
	e.caughtUp(t, rt)
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if r := readRisk(t, e.r.Client, quiet); r.Status != domain.CustomerStatusAtRisk {
		t.Fatalf("quiet: %+v", r)
	}
	if r := readRisk(t, e.r.Client, gone); r.Band != churn.BandHigh || r.Value <= readRisk(t, e.r.Client, quiet).Value {
		t.Fatalf("the lost customer does not score highest (the test's premise): %+v", r)
	}
	t.Run("lost from the start", func(t *testing.T) { check(t, []uuid.UUID{steady, quiet}, []uuid.UUID{quiet}, []uuid.UUID{gone}) })

	// The at-risk customer is confirmed lost: it leaves at the next
	// (incremental) step.
	if _, err := e.h.ConfirmChurn(ctx, admin, quiet, "no answer"); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(t, rt)
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("at risk then lost", func(t *testing.T) { check(t, []uuid.UUID{steady}, nil, nil) })

	// The first lost customer is reactivated: it returns (and, active with
	// the rule firing, is warned again: at risk, still ranked).
	if _, err := e.h.ReactivateCustomer(ctx, admin, gone, "new contract"); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(t, rt)
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("reactivated", func(t *testing.T) { check(t, []uuid.UUID{steady, gone}, []uuid.UUID{gone}, nil) })

	// A full pass a day later keeps it so.
	now = now.AddDate(0, 0, 1)
	scoreAll(t, s)
	t.Run("next full pass", func(t *testing.T) { check(t, []uuid.UUID{steady, gone}, []uuid.UUID{gone}, []uuid.UUID{quiet}) })
}

// TestWarningOncePerDay: the warning key is per customer and UTC day of the
// scorer's now. A warned customer that a user reactivates is due a warning
// again (the rule still fires), but scoring again the same day raises none
// (the day's key is used), even when the command side's clock has passed
// midnight meanwhile (a pass started at 23:59 that reaches the customer
// after midnight: the domain's own once-a-day rule, on the command clock,
// would let it through); the next day one is raised.
func TestWarningOncePerDay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, _, _ := e.project(t, e.r.Client)
	id := e.register(t, "Quiet", "rep-1")
	e.monthly(t, id, time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 5, 10, 0, 0, 0, 0, time.UTC))
	e.caughtUp(t, rt)
	day := time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)
	now := day.Add(10 * time.Hour)
	e.setClock(now)
	s := e.scorer(t, &now, 6)
	if st := scoreAll(t, s); st.Warned != 1 {
		t.Fatalf("first warning: %+v", st)
	}
	e.setClock(day.Add(12 * time.Hour))
	if _, err := e.h.ReactivateCustomer(ctx, admin, id, "promised to order"); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(t, rt)
	for _, tc := range []struct {
		name     string
		now      time.Time // the scorer's
		commands time.Time // the command side's clock
		warned   int       // by this pass
		total    int       // warnings on the stream after it
	}{
		{"same day", day.Add(15 * time.Hour), day.Add(15 * time.Hour), 0, 1},
		{"same day, the command clock past midnight", day.Add(23*time.Hour + 59*time.Minute), day.Add(24*time.Hour + 30*time.Second), 0, 1},
		{"next day", day.Add(34 * time.Hour), day.Add(34 * time.Hour), 1, 2},
		{"next day, again", day.Add(35 * time.Hour), day.Add(35 * time.Hour), 0, 2},
	} {
		now = tc.now
		e.setClock(tc.commands)
		if doc, ok, err := churn.ReadSignals(ctx, e.r.Client, id.String()); err != nil || !ok || doc.Signals.Status != domain.CustomerStatusActive {
			t.Fatalf("%s: not active (the test's premise): %+v", tc.name, doc)
		}
		st := scoreAll(t, s)
		if got := len(e.warnings(t, id)); st.Warned != tc.warned || got != tc.total {
			t.Errorf("%s: warned %d (want %d), %d warnings on the stream (want %d)", tc.name, st.Warned, tc.warned, got, tc.total)
		}
		if !readRisk(t, e.r.Client, id).Rule.Fires {
			t.Fatalf("%s: the rule does not fire (the test's premise)", tc.name)
		}
		if tc.warned > 0 {
			// The warning reached the signals: reactivate again, so the
			// customer is due one at every pass.
			e.caughtUp(t, rt)
			if _, err := e.h.ReactivateCustomer(ctx, admin, id, "promised again"); err != nil {
				t.Fatal(err)
			}
			e.caughtUp(t, rt)
		}
	}
}

// TestClearingOncePerDay: the clearing key is per customer and UTC day of
// the scorer's now. A customer cleared, warned again the same day (its new
// order cancelled: the rule fires again) and then low again (another
// order) keeps its warning until the next day.
func TestClearingOncePerDay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, _, _ := e.project(t, e.r.Client)
	id := e.register(t, "Flapping", "rep-1")
	e.monthly(t, id, time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC))
	e.caughtUp(t, rt)
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	e.setClock(now)
	s := e.scorer(t, &now, 1)
	if st := scoreAll(t, s); st.Warned != 1 {
		t.Fatalf("first warning: %+v", st)
	}
	e.monthly(t, id, time.Date(2026, 1, 21, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 21, 0, 0, 0, 0, time.UTC))
	day := time.Date(2026, 6, 25, 0, 0, 0, 0, time.UTC)
	placed := func(at time.Time) uuid.UUID {
		t.Helper()
		res, err := e.h.PlaceOrder(ctx, admin, commands.PlaceOrder{PlaceOrder: domain.PlaceOrder{CustomerID: id, OrderedAt: at, Currency: "GBP",
			Lines: []domain.OrderLine{{SKU: "SKU-1", Quantity: domain.DecimalFromInt(1), UnitPrice: domain.DecimalFromInt(250)}}}})
		if err != nil {
			t.Fatal(err)
		}
		return uuid.MustParse(res.ID)
	}
	var recent uuid.UUID
	for _, tc := range []struct {
		name            string
		at              time.Time // the scorer's now and the command clock
		act             func()
		warned, cleared int
		low             bool                  // the premise: band low, the rule silent
		status          domain.CustomerStatus // after the pass, once projected
	}{
		{"ordered again: cleared", day.Add(10 * time.Hour), func() { recent = placed(day.Add(-24 * time.Hour)) }, 0, 1, true, domain.CustomerStatusActive},
		{"the order cancelled: warned again", day.Add(12 * time.Hour), func() {
			if _, err := e.h.CancelOrder(ctx, admin, recent, "mistake"); err != nil {
				t.Fatal(err)
			}
		}, 1, 0, false, domain.CustomerStatusAtRisk},
		{"ordered again the same day: not cleared", day.Add(14 * time.Hour), func() { placed(day.Add(13 * time.Hour)) }, 0, 0, true, domain.CustomerStatusAtRisk},
		{"the next day: cleared", day.Add(34 * time.Hour), func() {}, 0, 1, true, domain.CustomerStatusActive},
	} {
		now = tc.at
		e.setClock(tc.at)
		tc.act()
		e.caughtUp(t, rt)
		st := scoreAll(t, s)
		r := readRisk(t, e.r.Client, id)
		if st.Warned != tc.warned || st.Cleared != tc.cleared {
			t.Errorf("%s: %+v, want warned %d cleared %d (risk %+v)", tc.name, st, tc.warned, tc.cleared, r)
		}
		if tc.low && (r.Band != churn.BandLow || r.Rule.Fires) {
			t.Fatalf("%s: not low with the rule silent (the test's premise): %+v", tc.name, r)
		}
		e.caughtUp(t, rt)
		if doc, _, err := churn.ReadSignals(ctx, e.r.Client, id.String()); err != nil || doc.Signals.Status != tc.status {
			t.Errorf("%s: status %s, want %s (%v)", tc.name, doc.Signals.Status, tc.status, err)
		}
	}
	if diff := cmp.Diff([]string{domain.TypeChurnWarningRaised, domain.TypeChurnWarningCleared, domain.TypeChurnWarningRaised, domain.TypeChurnWarningCleared},
		e.churnEvents(t, id)); diff != "" {
		t.Errorf("churn events (-want +got):\n%s", diff)
	}
}
