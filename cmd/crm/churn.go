package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/importer"
	"github.com/crm-es/crm/projections/churn"
)

// churnEvalConfig is the configuration of "crm churn evaluate".
type churnEvalConfig struct {
	file       string
	cutoff     time.Time
	horizon    time.Duration
	ruleMonths int
	out        string
	dataDir    string // "" = a temporary embedded store, removed afterwards
	progress   string
	logLevel   slog.Level
}

const churnUsage = `Usage: crm churn evaluate [flags] FILE

Evaluates the churn-risk score (DESIGN §7) on the UCI "Online Retail" data set
(Daqing Chen, 2015, CC BY 4.0) in FILE (csv or csv.gz): imports FILE into an
embedded event store (a temporary one unless --data is given), replays the
events that happened at or before the cutoff T into each customer's churn
signals, scores every customer who had ordered by T at now = T with the
service's scoring code, labels a customer churned when it placed no order in
(T, T+horizon], and reports ROC AUC, the top decile's precision and the
N-month rule's precision and recall.

Flags:
`

func parseChurnEvalConfig(args []string, getenv func(string) string, stderr io.Writer) (churnEvalConfig, error) {
	var (
		cfg                  churnEvalConfig
		cutoff, horizon, lvl string
	)
	fs := flag.NewFlagSet("crm churn evaluate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cutoff, "cutoff", "2011-09-01", "cutoff `T`: a date (midnight UTC) or an RFC 3339 time")
	fs.StringVar(&horizon, "horizon", "90d", "label horizon: days (\"90d\") or a Go duration")
	fs.IntVar(&cfg.ruleMonths, "rule-months", churn.DefaultRuleMonths, "N of the N-month rule (the baseline)")
	fs.StringVar(&cfg.out, "out", "", "write every customer's score and reasons to `FILE` (.csv: CSV, else NDJSON)")
	fs.StringVar(&cfg.dataDir, "data", "", "import into (or reuse) the embedded store under `DIR` instead of a temporary one")
	fs.StringVar(&cfg.progress, "progress", "auto", "progress display: auto, bar, log or none")
	fs.StringVar(&lvl, "log-level", envOr(getenv, "CRM_LOG_LEVEL", "warn"), "log `level`")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), churnUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, flagError{err}
	}
	if rest := fs.Args(); len(rest) > 0 {
		cfg.file = rest[0]
		if err := parseFlags(fs, rest[1:]); err != nil {
			return cfg, err
		}
	}
	var errs []error
	if cfg.file == "" {
		errs = append(errs, errors.New("missing FILE (the Online Retail CSV or CSV.GZ file)"))
	}
	t, err := parseCutoff(cutoff)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.cutoff = t
	if cfg.horizon, err = parseHorizon(horizon); err != nil {
		errs = append(errs, err)
	}
	if cfg.ruleMonths < 1 || cfg.ruleMonths > 120 {
		errs = append(errs, errors.New("--rule-months must be between 1 and 120"))
	}
	if err := validateProgress(cfg.progress); err != nil {
		errs = append(errs, err)
	}
	if cfg.logLevel, err = parseLogLevel(lvl); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

func parseCutoff(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--cutoff %q: want a date (2011-09-01) or an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

func parseHorizon(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n > 0 && n <= 3650 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("--horizon %q: want days (90d) or a positive duration", s)
}

// runChurn is "crm churn evaluate ...".
func runChurn(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "evaluate" {
		fmt.Fprint(stderr, "crm churn: expected subcommand \"evaluate\"\n\n"+usage)
		return exitUsage
	}
	cfg, err := parseChurnEvalConfig(args[1:], getenv, stderr)
	if code, done := configExit("crm churn evaluate", err, stderr); done {
		return code
	}
	logger := newLogger(stderr, cfg.logLevel)
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	rep, err := evaluateChurn(ctx, cfg, logger, stderr)
	if err != nil {
		logger.Error("crm churn evaluate failed", "err", err)
		fmt.Fprintf(stderr, "crm churn evaluate: %v\n", err)
		return exitFailure
	}
	rep.WriteText(stdout)
	if cfg.out != "" {
		if err := writeScored(cfg.out, rep.Scored); err != nil {
			fmt.Fprintf(stderr, "crm churn evaluate: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "\n  per-customer scores and reasons: %s\n", cfg.out)
	}
	fmt.Fprintf(stdout, "  took %s\n", time.Since(start).Round(time.Millisecond))
	return exitOK
}

// evaluateChurn imports the file into an embedded store and replays its
// log into the evaluator.
func evaluateChurn(ctx context.Context, cfg churnEvalConfig, logger *slog.Logger, stderr io.Writer) (*churn.Report, error) {
	dir := cfg.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "crm-churn-eval-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	f, err := os.Open(cfg.file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	store, err := eventstore.Open(ctx, eventstore.Config{DataDir: dir, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	defer func() {
		if err := closeWithin(defaultShutdownTimeout, store.Close); err != nil {
			logger.Warn("close event store", "err", err)
		}
	}()
	if _, err := importer.ImportOnlineRetail(ctx, store, f, importer.Options{
		Logger:   logger,
		Progress: progressFor(cfg.progress, stderr, logger),
	}); err != nil {
		return nil, fmt.Errorf("import %s: %w", filepath.Base(cfg.file), err)
	}
	ev := churn.NewEvaluator(cfg.cutoff, cfg.horizon, cfg.ruleMonths)
	if err := replayChurn(ctx, store, ev, progressFor(cfg.progress, stderr, logger)); err != nil {
		return nil, err
	}
	return ev.Report(), nil
}

// replayChurn replays $all into the evaluator (churn.Replay) with progress.
func replayChurn(ctx context.Context, store eventstore.AllReader, ev *churn.Evaluator, progress importer.Progress) error {
	head, err := store.Head(ctx)
	if err != nil {
		return err
	}
	progress.Start("replaying events", int(head.Commit))
	defer progress.Done()
	var done uint64
	return churn.Replay(ctx, store, ev, func(pos uint64) {
		progress.Add(int(pos - done))
		done = pos
	})
}

// writeScored writes the per-customer results: CSV when the name ends in
// .csv, else one JSON object per line.
func writeScored(name string, scored []churn.Scored) (err error) {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriter(f)
	if strings.EqualFold(filepath.Ext(name), ".csv") {
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"customerId", "externalRef", "score", "band", "churned", "rule", "reasons"})
		for _, s := range scored {
			var rs []string
			for _, r := range s.Reasons {
				rs = append(rs, fmt.Sprintf("%s %+.1f: %s", r.Signal, r.Contribution, r.Detail))
			}
			_ = cw.Write([]string{s.CustomerID, s.ExternalRef, strconv.Itoa(s.Score), string(s.Band),
				strconv.FormatBool(s.Churned), strconv.FormatBool(s.Rule), strings.Join(rs, "; ")})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	} else {
		enc := json.NewEncoder(w)
		for _, s := range scored {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
	}
	return w.Flush()
}
