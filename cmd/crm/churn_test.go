package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/dataset"
	"github.com/crm-es/crm/internal/eventcodec"
	"github.com/crm-es/crm/projections/churn"
)

func TestParseChurnEvalConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c churnEvalConfig)
	}{
		{"defaults", []string{"f.csv"}, "", func(t *testing.T, c churnEvalConfig) {
			if c.file != "f.csv" || !c.cutoff.Equal(time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC)) || c.horizon != 90*24*time.Hour || c.ruleMonths != 6 {
				t.Errorf("%+v", c)
			}
		}},
		{"flags after FILE", []string{"f.csv", "--cutoff", "2011-06-01", "--horizon", "30d", "--out", "x.csv"}, "", func(t *testing.T, c churnEvalConfig) {
			if !c.cutoff.Equal(time.Date(2011, 6, 1, 0, 0, 0, 0, time.UTC)) || c.horizon != 30*24*time.Hour || c.out != "x.csv" {
				t.Errorf("%+v", c)
			}
		}},
		{"RFC 3339 cutoff and Go duration", []string{"--cutoff", "2011-09-01T12:00:00+01:00", "--horizon", "720h", "f"}, "", func(t *testing.T, c churnEvalConfig) {
			if !c.cutoff.Equal(time.Date(2011, 9, 1, 11, 0, 0, 0, time.UTC)) || c.horizon != 30*24*time.Hour {
				t.Errorf("%+v", c)
			}
		}},
		{"no file", nil, "missing FILE", nil},
		{"bad cutoff", []string{"--cutoff", "Sept", "f"}, "--cutoff", nil},
		{"bad horizon", []string{"--horizon", "-3d", "f"}, "--horizon", nil},
		{"bad rule", []string{"--rule-months", "0", "f"}, "--rule-months", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseChurnEvalConfig(tt.args, envMap(nil), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestChurnEvaluateSlice runs "crm churn evaluate" end to end on the
// committed slice of the data set: import into a temporary embedded store,
// replay, score, report, per-customer output in both formats.
func TestChurnEvaluateSlice(t *testing.T) {
	dir := t.TempDir()
	for _, out := range []string{filepath.Join(dir, "scores.ndjson"), filepath.Join(dir, "scores.csv")} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"churn", "evaluate", "--progress", "none", "--cutoff", "2011-06-01", "--horizon", "90d", "--out", out, importSlice},
			envMap(nil), &stdout, &stderr)
		if code != exitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		}
		for _, want := range []string{"T = 2011-06-01T00:00:00Z, horizon 90 days", "customers scored", "6-month rule", "top decile"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("report lacks %q:\n%s", want, stdout.String())
			}
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		n := 0
		if strings.HasSuffix(out, ".csv") {
			recs, err := csv.NewReader(f).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) < 2 || recs[0][0] != "customerId" || !strings.Contains(recs[1][6], "frequency") {
				t.Errorf("csv %v", recs)
			}
			n = len(recs) - 1
		} else {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var s churn.Scored
				if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
					t.Fatal(err)
				}
				if len(s.Reasons) == 0 || s.ExternalRef == "" || s.Score < 0 || s.Score > 100 {
					t.Errorf("%+v", s)
				}
				n++
			}
		}
		// The slice's 8 customers; those whose first invoice is after T are not scored.
		if n == 0 || n > 8 || !strings.Contains(stdout.String(), "customers scored") {
			t.Errorf("%d customers written", n)
		}
	}
}

// TestChurnEvaluateSliceValues checks the per-customer values of "crm churn
// evaluate" on the slice (its store kept with --data) against the model
// folded in the test over every event of the store's $all up to T, decoded
// without the churn filter. The slice's cancellation invoices before T are
// recorded as OrderCancelled and OrderReturned; the test requires that
// leaving them out changes some customer's value, so a replay that dropped
// them fails here.
func TestChurnEvaluateSliceValues(t *testing.T) {
	dir := t.TempDir()
	storeDir, out := filepath.Join(dir, "store"), filepath.Join(dir, "scores.ndjson")
	T := time.Date(2011, 6, 1, 0, 0, 0, 0, time.UTC)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"churn", "evaluate", "--progress", "none", "--cutoff", "2011-06-01", "--data", storeDir, "--out", out, importSlice},
		envMap(nil), &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	got := map[string]churn.Scored{}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		var s churn.Scored
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		got[s.CustomerID] = s
	}

	// Fold the store's log in the test: all of it, and without the
	// cancellations and returns.
	store, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: storeDir})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	all, without := map[string]*churn.Signals{}, map[string]*churn.Signals{}
	counts := map[string]int{}
	codec := eventcodec.New()
	var after eventstore.Checkpoint
	for {
		page, err := store.ReadAll(context.Background(), after, 1024)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			after = r.Checkpoint()
			if r.IsSystem() {
				continue
			}
			v, err := codec.DecodeRecorded(r)
			if err != nil {
				t.Fatalf("decode %s: %v", r.Type, err)
			}
			e, ok := v.(domain.Event)
			if !ok {
				continue
			}
			id, ok := churn.CustomerOf(e)
			at := r.Metadata.OccurredAt
			if at.IsZero() {
				at = r.RecordedAt
			}
			if !ok || at.After(T) {
				continue
			}
			for _, m := range []map[string]*churn.Signals{all, without} {
				if m[id.String()] == nil {
					m[id.String()] = &churn.Signals{}
				}
			}
			all[id.String()].Apply(e, at)
			counts[r.Type]++
			if r.Type != domain.TypeOrderCancelled && r.Type != domain.TypeOrderReturned {
				without[id.String()].Apply(e, at)
			}
		}
	}
	if counts[domain.TypeOrderCancelled] == 0 || counts[domain.TypeOrderReturned] == 0 {
		t.Fatalf("the slice has no cancellation or no return before T (the test's premise): %v", counts)
	}
	changed := 0
	scored := 0
	for id, s := range all {
		if s.OrdersPlaced == 0 {
			continue
		}
		scored++
		want := churn.Score(*s, T)
		g, ok := got[id]
		if !ok {
			t.Errorf("customer %s (%s) missing from the output", id, s.ExternalRef)
			continue
		}
		if diff := cmp.Diff(want, g.Result); diff != "" {
			t.Errorf("customer %s (%s) (-folded here +crm churn evaluate):\n%s", id, s.ExternalRef, diff)
		}
		if churn.Score(*without[id], T).Value != want.Value {
			changed++
		}
	}
	if scored != len(got) || scored == 0 {
		t.Errorf("%d customers written, %d ordered by T", len(got), scored)
	}
	if changed == 0 {
		t.Errorf("no customer's value depends on its cancellations and returns: the test would not catch them dropped")
	}
	t.Logf("%d customers, %d whose value depends on cancellations or returns; events up to T: %v", scored, changed, counts)
}

// TestChurnEvaluateFull is the acceptance run of DESIGN §7 on the whole
// Online Retail file (skipped when it is absent, with -short or -race).
func TestChurnEvaluateFull(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("full data set evaluation: not with -short or -race")
	}
	fullOnlineRetail, err := dataset.OnlineRetail(os.Getenv(dataset.OnlineRetailEnv))
	if err != nil {
		t.Skip(err)
	}
	start := time.Now()
	r, err := evaluateChurn(context.Background(), churnEvalConfig{
		file: fullOnlineRetail, cutoff: time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC), horizon: 90 * 24 * time.Hour,
		ruleMonths: 6, progress: "none",
	}, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	r.WriteText(&b)
	t.Logf("%s\ntook %s", b.String(), time.Since(start).Round(time.Millisecond))
	if r.Customers < 3000 || r.Churned == 0 {
		t.Fatalf("%d customers, %d churned", r.Customers, r.Churned)
	}
	// The model must beat the rule, compared fairly: the rule's AUC as a 0/1
	// score (its balanced accuracy), and precision at the rule's alert count.
	if r.AUC <= r.RuleAUC {
		t.Errorf("score AUC %.4f not above the rule's %.4f", r.AUC, r.RuleAUC)
	}
	if r.ModelPrecAtRule < r.RulePrecision {
		t.Errorf("score precision at the rule's %d alerts %.3f below the rule's %.3f", r.RuleFired, r.ModelPrecAtRule, r.RulePrecision)
	}
	// Regression floor at the acceptance target, 0.74 (README "Churn risk"):
	// the model chosen and fixed on the earlier cutoffs measures 0.7404 here;
	// raising it by tuning on this cutoff is not allowed.
	if r.AUC < minFullAUC {
		t.Errorf("score AUC %.4f below %.3f", r.AUC, minFullAUC)
	}
	if r.AUC < 0.74 {
		t.Logf("NOTE: AUC %.4f is below the 0.74 acceptance target (see README \"Churn risk\")", r.AUC)
	}
	for _, s := range r.Scored {
		if len(s.Reasons) == 0 {
			t.Fatalf("%s: no reasons", s.CustomerID)
		}
	}
}

const minFullAUC = 0.74
