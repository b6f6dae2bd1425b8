package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/crm-es/crm/eventstore"
	"github.com/redis/go-redis/v9"
)

// lagCountCap bounds how many events of $all Status scans behind a
// checkpoint to count the lag.
const lagCountCap = 10_000

// Status is one projection's state, as seen from this process.
type Status struct {
	Name     string `json:"name"`
	Version  int    `json:"version"`            // the version this binary builds
	Active   string `json:"active"`             // generation queries read ("" = none yet)
	Building string `json:"building,omitempty"` // generation being built blue/green
	State    string `json:"state"`              // catching_up, live, rebuilding, failed, standby, stopped
	Holder   string `json:"holder,omitempty"`   // lease holder
	// LeaseHeld: this process holds the lease.
	LeaseHeld bool `json:"lease_held"`
	// Checkpoint is the served generation's $all commit position (the
	// building one's while none is served); Head is $all's last position.
	Checkpoint      uint64 `json:"checkpoint"`
	BuildCheckpoint uint64 `json:"build_checkpoint,omitempty"`
	Head            uint64 `json:"head"`
	// LagEvents counts the events after Checkpoint that the projection
	// handles, among the 10,000 events of $all after the least checkpoint
	// of the projections reported together (LagEventsCapped: there are
	// more); LagSeconds is the age of the oldest.
	LagEvents       int64   `json:"lag_events"`
	LagEventsCapped bool    `json:"lag_events_capped,omitempty"`
	LagSeconds      float64 `json:"lag_seconds"`
	Parked          int64   `json:"parked"` // dead-letter entries of the served generation
	LastError       string  `json:"last_error,omitempty"`
}

// Status reports every projection (reading Redis and the event store).
func (rt *Runtime) Status(ctx context.Context) ([]Status, error) {
	head, err := rt.cfg.Store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("head of $all: %w", err)
	}
	out := make([]Status, len(rt.workers))
	var errs []error
	var lags []LagItem
	for i, w := range rt.workers {
		st, err := w.status(ctx, head)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.name, err))
		}
		out[i] = st
		if err == nil && head.Commit > st.Checkpoint {
			lags = append(lags, LagItem{Projection: w.p, Checkpoint: eventstore.CheckpointAt(st.Checkpoint), Status: &out[i]})
		}
	}
	if err := CountLags(ctx, rt.cfg.Store, lags); err != nil {
		errs = append(errs, fmt.Errorf("lag: %w", err))
	}
	return out, errors.Join(errs...)
}

func (w *worker) status(ctx context.Context, head eventstore.Checkpoint) (Status, error) {
	rdb := w.rt.cfg.Redis
	local := w.snapshot()
	st := Status{Name: w.name, Version: w.p.Version(), Head: head.Commit, State: local.state,
		LastError: local.lastErr, LeaseHeld: local.holder}
	vals, err := rdb.MGet(ctx, AliasKey(w.name), metaKey(w.name, "building"), metaKey(w.name, "lease"), metaKey(w.name, "state")).Result()
	if err != nil {
		st.State, st.LastError = StateFailed, err.Error()
		return st, err
	}
	str := func(x any) string { s, _ := x.(string); return s }
	st.Active, st.Building, st.Holder = str(vals[0]), str(vals[1]), str(vals[2])
	if !local.holder && st.Holder != "" {
		// Another process leads: report the projection's state it published.
		st.LastError = ""
		st.State = publishedState(str(vals[3]), st.Holder, &st.LastError, StateStandby)
	}
	cpOf := func(gen string) (eventstore.Checkpoint, error) {
		if gen == "" {
			return eventstore.Checkpoint{}, nil
		}
		s, err := rdb.Get(ctx, genMetaKey(w.name, gen, "checkpoint")).Result()
		if errors.Is(err, redis.Nil) {
			return eventstore.Checkpoint{}, nil
		}
		if err != nil {
			return eventstore.Checkpoint{}, err
		}
		return parseCheckpoint(s)
	}
	gen := st.Active
	if gen == "" {
		gen = st.Building
	}
	cp, err := cpOf(gen)
	if err != nil {
		return st, err
	}
	st.Checkpoint = cp.Commit
	if st.Building != "" {
		bcp, err := cpOf(st.Building)
		if err != nil {
			return st, err
		}
		st.BuildCheckpoint = bcp.Commit
	}
	if gen != "" {
		if st.Parked, err = rdb.LLen(ctx, genMetaKey(w.name, gen, "parked")).Result(); err != nil {
			return st, err
		}
	}
	return st, nil
}

// LagItem is one projection's part of CountLags: its checkpoint, and the
// status to count its lag into.
type LagItem struct {
	Projection Projection
	Checkpoint eventstore.Checkpoint
	Status     *Status
}

// CountLags counts into each item's status the events after its checkpoint
// that its projection handles, and the age of the oldest of them, reading
// $all from r once, from the least of the checkpoints; past lagCountCap
// scanned events it stops and sets LagEventsCapped. The runtime's Status
// and the query API's status endpoint both use it.
func CountLags(ctx context.Context, r eventstore.AllReader, items []LagItem) error {
	if len(items) == 0 {
		return nil
	}
	after := items[0].Checkpoint
	for _, it := range items[1:] {
		if it.Checkpoint.Commit < after.Commit {
			after = it.Checkpoint
		}
	}
	for scanned := 0; scanned < lagCountCap; {
		evs, err := r.ReadAll(ctx, after, 1000)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.IsSystem() {
				continue
			}
			pos := e.Checkpoint().Commit
			for _, it := range items {
				if pos <= it.Checkpoint.Commit || !it.Projection.Handles(e.Type) {
					continue
				}
				if it.Status.LagEvents == 0 {
					it.Status.LagSeconds = max(0, time.Since(e.RecordedAt).Seconds())
				}
				it.Status.LagEvents++
			}
		}
		scanned += len(evs)
		if len(evs) < 1000 {
			return nil
		}
		after = evs[len(evs)-1].Checkpoint()
	}
	for _, it := range items {
		it.Status.LagEventsCapped = true
	}
	return nil
}

// Parked returns up to limit dead-letter entries of projection name's
// served generation.
func (rt *Runtime) Parked(ctx context.Context, name string, limit int64) ([]ParkedEvent, error) {
	gen, err := rt.cfg.Redis.Get(ctx, AliasKey(name)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	raw, err := rt.cfg.Redis.LRange(ctx, genMetaKey(name, gen, "parked"), 0, limit-1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]ParkedEvent, 0, len(raw))
	for _, s := range raw {
		var p ParkedEvent
		if err := json.Unmarshal([]byte(s), &p); err == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// WriteMetrics renders statuses in the Prometheus text exposition format.
func WriteMetrics(w io.Writer, statuses []Status) error {
	sorted := append([]Status(nil), statuses...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b strings.Builder
	gauge := func(name, help string, val func(Status) float64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		for _, s := range sorted {
			fmt.Fprintf(&b, "%s{projection=%q} %g\n", name, s.Name, val(s))
		}
	}
	boolf := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	gauge("crm_projection_version", "Projection version this process builds.", func(s Status) float64 { return float64(s.Version) })
	gauge("crm_projection_checkpoint", "Commit position in $all of the served generation.", func(s Status) float64 { return float64(s.Checkpoint) })
	gauge("crm_projection_head", "Commit position of the last event in $all.", func(s Status) float64 { return float64(s.Head) })
	gauge("crm_projection_lag_events", "Handled events in $all after the checkpoint (capped at 10000).", func(s Status) float64 { return float64(s.LagEvents) })
	gauge("crm_projection_lag_seconds", "Age of the oldest event not yet projected.", func(s Status) float64 { return s.LagSeconds })
	gauge("crm_projection_parked_events", "Events parked in the dead-letter list.", func(s Status) float64 { return float64(s.Parked) })
	gauge("crm_projection_lease_held", "1 if this process holds the projection's lease.", func(s Status) float64 { return boolf(s.LeaseHeld) })
	gauge("crm_projection_serving", "1 if a generation is served (alias set).", func(s Status) float64 { return boolf(s.Active != "") })
	fmt.Fprintf(&b, "# HELP crm_projection_state Projection state (1 for the current one).\n# TYPE crm_projection_state gauge\n")
	for _, s := range sorted {
		for _, state := range []string{StateCatchingUp, StateLive, StateRebuilding, StateFailed, StateStandby, StateStopped} {
			fmt.Fprintf(&b, "crm_projection_state{projection=%q,state=%q} %g\n", s.Name, state, boolf(s.State == state))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
