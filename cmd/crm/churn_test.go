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

	"github.com/crm-es/crm/internal/dataset"
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
