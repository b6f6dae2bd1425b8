package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crm-es/crm/eventstore"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Source is what the runtime needs from the event store.
type Source interface {
	eventstore.AllSubscriber
	eventstore.AllReader
}

// Projection states reported by Status.
const (
	StateCatchingUp = "catching_up" // reading history before the first catch-up
	StateLive       = "live"        // caught up, following new events
	StateRebuilding = "rebuilding"  // building a new generation blue/green
	StateFailed     = "failed"      // retrying an error; see Status.LastError
	StateStandby    = "standby"     // another process holds the lease
	StateStopped    = "stopped"
)

// RuntimeConfig configures a Runtime. Store, Redis, Codec and Projections
// are required; zero values of the rest take the defaults.
type RuntimeConfig struct {
	Store       Source
	Redis       redis.UniversalClient
	Codec       *eventstore.Codec
	Projections []Projection
	Logger      *slog.Logger
	// Owner identifies this process in leases (default host-pid-random).
	Owner string
	// LeaseTTL: a dead holder's lease expires after this (default 5 s; a
	// standby takes over within LeaseTTL + PollInterval).
	LeaseTTL time.Duration
	// BatchSize and BatchWait bound one commit (default 500 events, 50 ms).
	BatchSize int
	BatchWait time.Duration
	// RetryMin and RetryMax bound the backoff of transient errors (default
	// 50 ms doubling to 5 s).
	RetryMin, RetryMax time.Duration
	// PollInterval: how often standbys try the lease and holders look for
	// rebuild requests, lost data and retired generations (default 1 s).
	PollInterval time.Duration
	// RetireGrace: how long a retired generation's keys stay after the
	// alias moved away from it, for queries that resolved it just before
	// (default 30 s).
	RetireGrace time.Duration
}

// Runtime runs projections: per projection one lease, one $all catch-up
// subscription per generation, batched fenced commits. See DESIGN §6.
//
// While a generation of the same version is rebuilt, the served one keeps
// being fed too: Handle may then run concurrently for two generations, so
// a Projection must be safe for concurrent use (keep per-key state in
// Redis; an in-memory cache must be locked and validated against what the
// Tx returns, as the read models' document caches are). A new version's build
// runs beside the old generation, which stays as it was (the new binary has
// no code for the old version) until the alias switches. A process whose
// version is older than the served or building generation stands down.
type Runtime struct {
	cfg     RuntimeConfig
	sc      *scripts
	decoded *decodeCache
	catchUp *catchUp
	log     *slog.Logger
	workers []*worker
}

// NewRuntime validates cfg and returns a Runtime; Run starts it.
func NewRuntime(cfg RuntimeConfig) (*Runtime, error) {
	if cfg.Store == nil || cfg.Redis == nil || cfg.Codec == nil {
		return nil, errors.New("projections: runtime needs Store, Redis and Codec")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.LeaseTTL, 5*time.Second)
	def(&cfg.BatchWait, 50*time.Millisecond)
	def(&cfg.RetryMin, 50*time.Millisecond)
	def(&cfg.RetryMax, 5*time.Second)
	def(&cfg.PollInterval, time.Second)
	def(&cfg.RetireGrace, 30*time.Second)
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	rt := &Runtime{cfg: cfg, sc: newScripts(), decoded: newDecodeCache(), log: cfg.Logger.With("component", "projector")}
	seen := map[string]bool{}
	for _, p := range cfg.Projections {
		name := p.Name()
		if name == "" || strings.ContainsAny(name, ": \t\n*?[]") {
			return nil, fmt.Errorf("projections: invalid projection name %q", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("projections: projection %q registered twice", name)
		}
		if p.Version() < 1 {
			return nil, fmt.Errorf("projections: projection %q: version must be at least 1", name)
		}
		seen[name] = true
		w := &worker{rt: rt, p: p, name: name, log: rt.log.With("projection", name)}
		w.filter = typeFilter(cfg.Codec, p)
		w.st.state = StateStopped
		rt.workers = append(rt.workers, w)
	}
	rt.catchUp = newCatchUp(cfg.Store.ReadAll, cfg.Codec.DecodeRecorded, func(t string) bool {
		for _, w := range rt.workers {
			if w.p.Handles(t) {
				return true
			}
		}
		return false
	})
	return rt, nil
}

// typeFilter is the server-side filter of p: only the event types it
// handles (or nil, "all but $ types", when it handles every known type).
func typeFilter(codec *eventstore.Codec, p Projection) *eventstore.Filter {
	var handled []string
	types := codec.Types()
	for _, t := range types {
		if p.Handles(t) {
			handled = append(handled, regexp.QuoteMeta(t))
		}
	}
	if len(handled) == len(types) || len(handled) == 0 {
		return nil
	}
	return &eventstore.Filter{EventTypeRegex: "^(?:" + strings.Join(handled, "|") + ")$"}
}

// Run runs every projection until ctx is done, then releases the leases.
func (rt *Runtime) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, w := range rt.workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx) }()
	}
	wg.Wait()
	return ctx.Err()
}

// Names lists the projections.
func (rt *Runtime) Names() []string {
	out := make([]string, len(rt.workers))
	for i, w := range rt.workers {
		out[i] = w.name
	}
	return out
}

// Rebuild requests a blue/green rebuild of projection name.
func (rt *Runtime) Rebuild(ctx context.Context, name string) error {
	for _, w := range rt.workers {
		if w.name == name {
			return RequestRebuild(ctx, rt.cfg.Redis, name)
		}
	}
	return fmt.Errorf("projections: no projection %q", name)
}

// Ready reports nil when every projection has a generation to serve
// (not while the first build, or the rebuild after the read store lost
// its data, is catching up).
func (rt *Runtime) Ready(ctx context.Context) error {
	if len(rt.workers) == 0 {
		return rt.cfg.Redis.Ping(ctx).Err()
	}
	keys := make([]string, len(rt.workers))
	for i, w := range rt.workers {
		keys[i] = AliasKey(w.name)
	}
	vals, err := rt.cfg.Redis.MGet(ctx, keys...).Result()
	if err != nil {
		return err
	}
	var missing []string
	for i, v := range vals {
		if v == nil {
			missing = append(missing, rt.workers[i].name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("projections still building: %s", strings.Join(missing, ", "))
	}
	return nil
}

// ---------------------------------------------------------------------------
// One projection

type workerState struct {
	holder   bool
	epoch    int64
	state    string
	lastErr  string
	active   string
	building string
}

type worker struct {
	rt     *Runtime
	p      Projection
	name   string
	log    *slog.Logger
	filter *eventstore.Filter

	mu sync.Mutex
	st workerState
}

func (w *worker) snapshot() workerState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// setState records the state locally and, for other processes, in Redis.
func (w *worker) setState(state, lastErr string) {
	w.mu.Lock()
	changed := w.st.state != state || w.st.lastErr != lastErr
	w.st.state, w.st.lastErr = state, lastErr
	holder := w.st.holder
	w.mu.Unlock()
	if !changed || !holder {
		return
	}
	b, _ := json.Marshal(sharedState{State: state, Holder: w.rt.cfg.Owner, Error: lastErr})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := w.rt.cfg.Redis.Set(ctx, metaKey(w.name, "state"), b, 0).Err(); err != nil {
		w.log.Debug("could not publish projection state", "err", err)
	}
}

type sharedState struct {
	State  string `json:"state"`
	Holder string `json:"holder"`
	Error  string `json:"error,omitempty"`
}

// publishedState is the state the lease holder published (raw, the
// meta:state value), and its error into lastErr; or unknown when it has
// published none. A state published by an earlier holder (a fenced one may
// still write it) says nothing of the current one.
func publishedState(raw, holder string, lastErr *string, unknown string) string {
	var shared sharedState
	if raw == "" || json.Unmarshal([]byte(raw), &shared) != nil || shared.Holder != holder {
		return unknown
	}
	*lastErr = shared.Error
	return shared.State
}

func (w *worker) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run competes for the lease and leads while holding it.
func (w *worker) run(ctx context.Context) {
	cfg := &w.rt.cfg
	rdb := cfg.Redis
	lease, epochKey := metaKey(w.name, "lease"), metaKey(w.name, "epoch")
	standbyLogged := false
	for ctx.Err() == nil {
		epoch, err := w.rt.sc.acquire.Run(ctx, rdb, []string{lease, epochKey},
			cfg.Owner, cfg.LeaseTTL.Milliseconds(), time.Now().UnixMilli()).Int64()
		if err != nil || epoch == 0 {
			if err != nil && ctx.Err() == nil {
				w.log.Warn("lease: redis unavailable", "err", err)
				w.setState(StateFailed, err.Error())
			} else if epoch == 0 {
				if !standbyLogged {
					w.log.Info("standing by: another process holds the lease")
					standbyLogged = true
				}
				w.setState(StateStandby, "")
			}
			w.sleep(ctx, jitter(cfg.PollInterval))
			continue
		}
		standbyLogged = false
		w.mu.Lock()
		w.st.holder, w.st.epoch = true, epoch
		w.mu.Unlock()
		w.log.Info("lease acquired", "owner", cfg.Owner, "epoch", epoch)

		lctx, cancel := context.WithCancel(ctx)
		renewed := make(chan struct{})
		go func() { defer close(renewed); w.renew(lctx, cancel) }()
		err = w.lead(lctx, epoch)
		cancel()
		<-renewed
		w.mu.Lock()
		w.st.holder = false
		w.mu.Unlock()
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		_ = w.rt.sc.release.Run(rctx, rdb, []string{lease}, cfg.Owner).Err()
		rcancel()
		if ctx.Err() != nil {
			w.setState(StateStopped, "")
			return
		}
		if errors.Is(err, errNewerVersion) {
			// A newer binary owns this projection: give it the lease.
			w.log.Warn("stepping down", "err", err)
			w.setState(StateStandby, err.Error())
			w.sleep(ctx, cfg.LeaseTTL+jitter(cfg.PollInterval))
			continue
		}
		w.log.Warn("lost the lead", "err", err)
		w.sleep(ctx, jitter(cfg.RetryMin))
	}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// renew keeps the lease; it cancels the lead when the lease is lost or
// could not be renewed for a whole TTL.
func (w *worker) renew(ctx context.Context, cancel context.CancelFunc) {
	cfg := &w.rt.cfg
	lease := metaKey(w.name, "lease")
	last := time.Now()
	tick := time.NewTicker(cfg.LeaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ok, err := w.rt.sc.renew.Run(ctx, cfg.Redis, []string{lease}, cfg.Owner, cfg.LeaseTTL.Milliseconds()).Int()
		switch {
		case err == nil && ok == 1:
			last = time.Now()
		case err == nil:
			w.log.Warn("lease lost to another process")
			cancel()
			return
		case time.Since(last) > cfg.LeaseTTL*2/3:
			w.log.Warn("lease could not be renewed; stepping down", "err", err)
			cancel()
			return
		}
	}
}

// plan is what the holder runs for one round: the generations to feed.
type plan struct {
	active, building string
	broken           bool // the active generation lost its checkpoint: not fed
}

// lead runs rounds of tracks until the lease is lost or fenced.
func (w *worker) lead(ctx context.Context, epoch int64) error {
	bo := backoff{min: w.rt.cfg.RetryMin, max: w.rt.cfg.RetryMax}
	gctx, stopGC := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.collectGarbage(gctx) }()
	defer func() { stopGC(); wg.Wait() }()
	for {
		pl, err := w.plan(ctx, epoch)
		if err == nil {
			err = w.round(ctx, epoch, pl)
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errFenced), errors.Is(err, errNewerVersion):
			return err
		case errors.Is(err, errReplan):
			bo.reset()
			continue
		}
		w.log.Error("projection round failed; retrying", "err", err)
		w.setState(StateFailed, err.Error())
		if !w.sleep(ctx, bo.next()) {
			return ctx.Err()
		}
	}
}

// plan reads the meta keys and starts a build when one is needed: no
// generation at all (first start, or the read store lost its data), a new
// version, or a rebuild request.
func (w *worker) plan(ctx context.Context, epoch int64) (plan, error) {
	rdb := w.rt.cfg.Redis
	v := w.p.Version()
	vals, err := rdb.MGet(ctx, AliasKey(w.name), metaKey(w.name, "building"), metaKey(w.name, "rebuild")).Result()
	if err != nil {
		return plan{}, err
	}
	str := func(x any) string { s, _ := x.(string); return s }
	pl := plan{active: str(vals[0]), building: str(vals[1])}
	request := str(vals[2])
	requested := request != ""
	if genVersion(pl.active) > v || genVersion(pl.building) > v {
		return plan{}, fmt.Errorf("%w: generation %s%s is newer than this binary's version %d; leaving the projection to a newer process",
			errNewerVersion, pl.active, pl.building, v)
	}
	if pl.active != "" {
		n, err := rdb.Exists(ctx, genMetaKey(w.name, pl.active, "checkpoint")).Result()
		if err != nil {
			return plan{}, err
		}
		if n == 0 {
			w.log.Warn("the served generation lost its checkpoint (read store flushed?); rebuilding beside it", "generation", pl.active)
			pl.broken = true
			requested = requested || pl.building == ""
		}
	}
	var ops []string
	op := func(name string, args ...string) {
		ops = append(ops, name, strconv.Itoa(len(args)))
		ops = append(ops, args...)
	}
	if gen, ok := strings.CutPrefix(request, abandonPrefix); ok && gen == pl.building {
		// The build is corrupt (see abandonBuild): start afresh.
		w.log.Warn("abandoning a corrupt build", "generation", pl.building)
		op("DEL", metaKey(w.name, "building"))
		op("SADD", metaKey(w.name, "garbage"), pl.building)
		pl.building = ""
	}
	if pl.building != "" && genVersion(pl.building) != v {
		w.log.Info("abandoning a build of another version", "generation", pl.building)
		op("DEL", metaKey(w.name, "building"))
		op("SADD", metaKey(w.name, "garbage"), pl.building)
		pl.building = ""
	}
	if requested {
		op("DEL", metaKey(w.name, "rebuild"))
	}
	if pl.building == "" && (pl.active == "" || genVersion(pl.active) != v || requested) {
		// Names come from a per-version counter and are never reused: a
		// holder that lost its lease in the middle of deleting a retired
		// generation can never delete a newer one of the same name. (The
		// checks cover names given before the counter existed.)
		var gen string
		for {
			seq, err := rdb.Incr(ctx, metaKey(w.name, "genseq:"+strconv.Itoa(v))).Result()
			if err != nil {
				return plan{}, err
			}
			gen = genName(v, seq-1)
			inGarbage, err := rdb.SIsMember(ctx, metaKey(w.name, "garbage"), gen).Result()
			if err != nil {
				return plan{}, err
			}
			if gen != pl.active && !inGarbage {
				break
			}
		}
		reason := "rebuild requested"
		switch {
		case pl.active == "":
			reason = "no generation to serve"
		case genVersion(pl.active) != v:
			reason = "new version"
		}
		w.log.Info("building a generation", "generation", gen, "reason", reason, "serving", pl.active)
		op("SET", metaKey(w.name, "building"), gen)
		op("DEL", genMetaKey(w.name, gen, "checkpoint"), genMetaKey(w.name, gen, "parked"))
		pl.building = gen
	}
	if len(ops) > 0 {
		args := make([]any, 0, len(ops)+1)
		args = append(args, epoch)
		for _, o := range ops {
			args = append(args, o)
		}
		if err := scriptErr(w.rt.sc.fenced.Run(ctx, rdb, []string{metaKey(w.name, "epoch")}, args...).Err()); err != nil {
			return plan{}, err
		}
	}
	w.mu.Lock()
	w.st.active, w.st.building = pl.active, pl.building
	w.mu.Unlock()
	return pl, nil
}

// round runs the tracks of a plan and a watcher until one of them ends.
func (w *worker) round(ctx context.Context, epoch int64, pl plan) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var tracks []*track
	if pl.active != "" && !pl.broken && genVersion(pl.active) == w.p.Version() {
		tracks = append(tracks, w.newTrack(pl.active, false, epoch))
	}
	if pl.building != "" {
		tracks = append(tracks, w.newTrack(pl.building, true, epoch))
	}
	if st := w.snapshot(); st.state != StateFailed {
		w.setState(w.stateOf(tracks), "")
	}
	errc := make(chan error, len(tracks)+1)
	for _, t := range tracks {
		go func() { errc <- t.run(rctx) }()
	}
	go func() { errc <- w.watch(rctx, epoch, pl) }()
	err := <-errc
	cancel()
	for range len(tracks) {
		<-errc
	}
	return err
}

// stateOf derives the projection state from its tracks.
func (w *worker) stateOf(tracks []*track) string {
	for _, t := range tracks {
		if t.build {
			return StateRebuilding
		}
	}
	for _, t := range tracks {
		if t.isLive() {
			return StateLive
		}
	}
	return StateCatchingUp
}

// watch ends the round when the plan is stale: a rebuild request, the
// alias or build marker changed, or the epoch is no longer ours (another
// holder, or the read store lost its data).
func (w *worker) watch(ctx context.Context, epoch int64, pl plan) error {
	rdb := w.rt.cfg.Redis
	tick := time.NewTicker(w.rt.cfg.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		vals, err := rdb.MGet(ctx, AliasKey(w.name), metaKey(w.name, "building"), metaKey(w.name, "rebuild"), metaKey(w.name, "epoch")).Result()
		if err != nil {
			continue // the tracks see Redis errors and retry
		}
		str := func(x any) string { s, _ := x.(string); return s }
		if str(vals[3]) != strconv.FormatInt(epoch, 10) {
			return fmt.Errorf("%w: epoch is now %q", errFenced, str(vals[3]))
		}
		if str(vals[0]) != pl.active || str(vals[1]) != pl.building {
			if pl.active != "" && str(vals[0]) == "" {
				w.log.Warn("the read store lost the projection's alias (flushed or restarted?); rebuilding")
			}
			return errReplan
		}
		if str(vals[2]) != "" && pl.building == "" {
			return errReplan
		}
	}
}

// collectGarbage deletes retired generations in the background (SCAN +
// UNLINK), while the lease is held, each once it has been retired for
// RetireGrace as this process saw it: a query that resolved the served
// generation just before the alias switched still finds its keys.
func (w *worker) collectGarbage(ctx context.Context) {
	rdb := w.rt.cfg.Redis
	gkey := metaKey(w.name, "garbage")
	seen := map[string]time.Time{} // retired generation → when this process first saw it retired
	for {
		gens, err := rdb.SMembers(ctx, gkey).Result()
		if err == nil {
			now := time.Now()
			for g := range seen {
				if !slices.Contains(gens, g) {
					delete(seen, g)
				}
			}
			for _, gen := range gens {
				st := w.snapshot()
				if gen == st.active || gen == st.building || gen == "" {
					continue
				}
				if _, ok := seen[gen]; !ok {
					seen[gen] = now
				}
				if now.Sub(seen[gen]) < w.rt.cfg.RetireGrace {
					continue
				}
				if err := w.deleteGeneration(ctx, gen); err != nil {
					if ctx.Err() == nil {
						w.log.Warn("deleting a retired generation failed; will retry", "generation", gen, "err", err)
					}
					break
				}
				_ = rdb.SRem(ctx, gkey, gen).Err()
			}
		}
		if !w.sleep(ctx, w.rt.cfg.PollInterval) {
			return
		}
	}
}

func (w *worker) deleteGeneration(ctx context.Context, gen string) error {
	rdb := w.rt.cfg.Redis
	n := 0
	iter := rdb.Scan(ctx, 0, GenerationPrefix(w.name, gen)+"*", 1000).Iterator()
	batch := make([]string, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := rdb.Unlink(ctx, batch...).Err()
		n += len(batch)
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if err := rdb.Unlink(ctx, genMetaKey(w.name, gen, "checkpoint"), genMetaKey(w.name, gen, "parked")).Err(); err != nil {
		return err
	}
	w.log.Info("deleted a retired generation", "generation", gen, "keys", n)
	return nil
}

// backoff is capped exponential backoff with equal jitter.
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) reset() { b.n = 0 }

func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	if d < b.max {
		b.n++
	}
	return jitter(d)
}
