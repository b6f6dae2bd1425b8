package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/importer"
)

// Store is what the demo needs of the event store: what the importer and
// the command handlers need.
type Store interface {
	importer.Store
}

// DefaultWorkers is how many scripts run at once by default.
const DefaultWorkers = 8

// Options tune Load.
type Options struct {
	// Seed makes the generated data (the same seed, the same data).
	Seed uint64
	// Customers is how many Online Retail customers the slice holds
	// (0 = EmbeddedCustomers).
	Customers int
	// Source is the whole Online Retail file to cut the slice from; nil =
	// the embedded slice (then Customers may not exceed EmbeddedCustomers).
	Source io.Reader
	// Workers is how many scripts run concurrently (0 = DefaultWorkers).
	Workers int
	Logger  *slog.Logger
	// Progress shows the import and the commands (nil = none).
	Progress importer.Progress
	// EndBy, when set, moves the whole story forward by whole weeks so that
	// the slice's last invoice falls in the seven days before it (see
	// ShiftSlice): a demo loaded today looks like a CRM in use today, with
	// recent orders, and churn risk scored at the current time makes sense.
	// Zero keeps the data set's 2010–2011 dates (what the tests pin).
	EndBy time.Time
}

// Summary says what a Load did.
type Summary struct {
	Import    *importer.Summary
	Customers int            // customers of the slice
	AsOf      time.Time      // the end of the story
	Scripts   int            // customers and prospect opportunities
	Steps     int            // generated commands
	Commands  map[string]int // generated commands by name
	Recorded  int            // commands that appended events in this run
	Replayed  int            // commands an earlier run had recorded (nothing appended)
	Unchanged int            // commands that changed nothing (none expected)
	Duration  time.Duration
}

// WriteText writes the summary for people.
func (s *Summary) WriteText(w io.Writer) {
	if s.Import != nil {
		fmt.Fprintf(w, "demo: imported the Online Retail slice: %d customers, %d orders, %d events appended, %d already there\n",
			s.Import.Customers, s.Import.Orders, s.Import.Appended, s.Import.AlreadyImported)
	}
	fmt.Fprintf(w, "demo: %d generated commands for %d scripts (story up to %s): %d recorded, %d already recorded by an earlier run, %d changed nothing; took %s\n",
		s.Steps, s.Scripts, s.AsOf.Format("2006-01-02"), s.Recorded, s.Replayed, s.Unchanged, s.Duration.Round(time.Millisecond))
}

// StepError is the failure of one generated command.
type StepError struct {
	Script  string
	Step    int
	Command string
	Err     error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("demo: %s, step %d (%s): %v", e.Script, e.Step+1, e.Command, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Slice returns the Online Retail slice of opts (plain or gzip-compressed
// CSV).
func Slice(opts Options) ([]byte, error) {
	n := opts.Customers
	if n == 0 {
		n = EmbeddedCustomers
	}
	if n < 1 {
		return nil, fmt.Errorf("demo: customers must be at least 1, not %d", n)
	}
	if opts.Source == nil {
		if n > EmbeddedCustomers {
			return nil, fmt.Errorf("demo: the embedded slice holds %d customers; give the Online Retail file for %d", EmbeddedCustomers, n)
		}
		if n == EmbeddedCustomers {
			return embeddedSlice, nil
		}
	}
	src := opts.Source
	if src == nil {
		src = EmbeddedSlice()
	}
	var buf bytes.Buffer
	if _, err := CutSlice(src, &buf, n); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Plan reads a slice and plans the demo over it.
func Plan(slice []byte, seed uint64) (*Demo, *importer.Plan, error) {
	loc, err := importer.LoadRetailerLocation()
	if err != nil {
		return nil, nil, err
	}
	r, err := importer.NewReader(bytes.NewReader(slice), loc)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	ds, err := importer.Collect(r)
	if err != nil {
		return nil, nil, err
	}
	plan := importer.NewPlan(ds)
	return Generate(plan, seed), plan, nil
}

// Load imports the slice and runs the generated commands through the
// command handlers. Every command carries an idempotency key, so a second
// run with the same options appends nothing. It stops at the first command
// that fails (a *StepError).
func Load(ctx context.Context, store Store, opts Options) (*Summary, error) {
	start := time.Now()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "demo")
	progress := opts.Progress
	if progress == nil {
		progress = importer.NoProgress{}
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}

	slice, err := Slice(opts)
	if err != nil {
		return nil, err
	}
	if !opts.EndBy.IsZero() {
		loc, err := importer.LoadRetailerLocation()
		if err != nil {
			return nil, err
		}
		var weeks int
		if slice, weeks, err = ShiftSlice(slice, opts.EndBy, loc); err != nil {
			return nil, err
		}
		log.Info("demo dates moved to end by "+opts.EndBy.UTC().Format(time.DateOnly), "weeks", weeks)
	}
	d, plan, err := Plan(slice, opts.Seed)
	if err != nil {
		return nil, fmt.Errorf("demo: read the slice: %w", err)
	}
	sum := &Summary{Customers: len(plan.Customers), AsOf: d.AsOf, Scripts: len(d.Scripts), Steps: d.Steps(), Commands: d.Count()}

	isum, err := importer.ImportOnlineRetail(ctx, store, bytes.NewReader(slice), importer.Options{
		Workers: workers, Logger: log, Progress: progress})
	sum.Import = isum
	if err != nil {
		return sum, fmt.Errorf("demo: import the Online Retail slice: %w", err)
	}

	log.Info("running the generated commands", "seed", opts.Seed, "scripts", sum.Scripts, "commands", sum.Steps, "as_of", d.AsOf.Format(time.DateOnly))
	progress.Start("demo commands", sum.Steps)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			rec, rep, unch, err := runScripts(ctx, store, log, d, w, workers, progress)
			mu.Lock()
			defer mu.Unlock()
			sum.Recorded += rec
			sum.Replayed += rep
			sum.Unchanged += unch
			if err != nil && firstErr == nil {
				firstErr = err
				cancel()
			}
		})
	}
	wg.Wait()
	progress.Done()
	sum.Duration = time.Since(start)
	if firstErr != nil {
		return sum, firstErr
	}
	log.Info("demo loaded", "recorded", sum.Recorded, "replayed", sum.Replayed, "unchanged", sum.Unchanged,
		"took", sum.Duration.Round(time.Millisecond).String())
	return sum, nil
}

// runScripts runs the scripts w, w+n, w+2n, … with command handlers of its
// own, whose clock is each step's time.
func runScripts(ctx context.Context, store Store, log *slog.Logger, d *Demo, w, n int, progress importer.Progress) (recorded, replayed, unchanged int, err error) {
	var now time.Time
	h := commands.New(commands.Config{Store: store, Logger: log, Now: func() time.Time { return now }})
	for i := w; i < len(d.Scripts); i += n {
		s := d.Scripts[i]
		corr := uuid.NewSHA1(namespace, fmt.Appendf(nil, "s%d:%s", d.Seed, s.Name)).String()
		for j, st := range s.Steps {
			if err := ctx.Err(); err != nil {
				return recorded, replayed, unchanged, err
			}
			now = st.At
			res, err := st.run(ctx, h, commands.Options{
				Actor:          commands.Actor{UserID: st.Actor},
				IdempotencyKey: st.Key,
				CorrelationID:  corr,
			})
			if err != nil {
				return recorded, replayed, unchanged, &StepError{Script: s.Name, Step: j, Command: st.Command, Err: err}
			}
			switch {
			case res.Replayed:
				replayed++
			case res.Changed:
				recorded++
			default:
				unchanged++
			}
			progress.Add(1)
		}
	}
	return recorded, replayed, unchanged, nil
}
