package churn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections"
)

// Warner raises and clears churn warnings on the command side.
//
// WarnChurn records ChurnWarningRaised on the customer's stream; an
// implementation must record nothing for a customer that is not active
// (already at risk, or lost) and report raised = false then.
//
// ClearChurn records ChurnWarningCleared (at risk → active) with reason; an
// implementation must record nothing for a customer that is not at risk
// (active already, or lost: only a user reactivates a lost customer) and
// report cleared = false then.
//
// For both, idempotencyKey makes retries, restarts and concurrent scorers
// record at most one event per key (a retry reports false).
type Warner interface {
	WarnChurn(ctx context.Context, customerID uuid.UUID, w domain.ChurnWarning, idempotencyKey string) (raised bool, err error)
	ClearChurn(ctx context.Context, customerID uuid.UUID, reason string, idempotencyKey string) (cleared bool, err error)
}

// WarningKey is the idempotency key of a customer's churn warning on the
// UTC day of now: "churn-warning:<customerId>:<YYYY-MM-DD>".
func WarningKey(customerID string, now time.Time) string {
	return "churn-warning:" + customerID + ":" + now.UTC().Format(time.DateOnly)
}

// ClearKey is the idempotency key of the automatic clearing of a customer's
// churn warning on the UTC day of now: "churn-clear:<customerId>:<YYYY-MM-DD>".
func ClearKey(customerID string, now time.Time) string {
	return "churn-clear:" + customerID + ":" + now.UTC().Format(time.DateOnly)
}

// Scorer defaults.
const (
	DefaultScoreInterval = time.Hour
	DefaultScorePoll     = time.Second
)

// ScorerConfig configures a Scorer. Redis is required.
type ScorerConfig struct {
	Redis redis.Cmdable
	// Warner raises the warnings (nil: scores only, no warnings).
	Warner Warner
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// Interval: every customer is rescored this often, as time alone moves
	// scores (default DefaultScoreInterval).
	Interval time.Duration
	// Poll: how often customers whose signals changed are looked for
	// (default DefaultScorePoll).
	Poll time.Duration
	// RuleMonths is the N of the N-month rule (default DefaultRuleMonths).
	RuleMonths int
	Logger     *slog.Logger
}

// Scorer is the churn-risk process: it scores customers at the clock's now
// from the signals projection's served generation and writes the Risk
// documents and rankings under KeyPrefix (see RiskKey). Every customer is
// rescored each Interval, on a start, when the signals generation changes
// and when the read store lost the scores (ScoredKey missing); in between,
// the customers whose signals changed (the projection's ChangedKey) are
// rescored within Poll.
//
// Warnings: a customer is warned (Warner, idempotency key WarningKey) when
// it is active and crosses into band high (its previous Risk document had
// another band, or there is none, e.g. after the read store was flushed),
// or when the N-month rule fires for it (it has existed for more than N
// months without an order).
//
// Clearing: a customer at risk whose risk is gone (the N-month rule no
// longer fires for it and its score is in band low, see Clearing) gets its
// warning cleared through the same Warner (ClearChurn, idempotency key
// ClearKey), and is active again once the signals projection has the
// ChurnWarningCleared. A lost customer is never cleared (a user reactivates
// it).
//
// A failed warning or clearing leaves the customer's previous document in
// place and the customer is scored again at the next step (within Poll).
// Several scorers may run at once: each document write is guarded (an older
// computation never overwrites a newer one) and the idempotency keys make at
// most one warning and one clearing per customer and day.
type Scorer struct {
	cfg   ScorerConfig
	log   *slog.Logger
	write *redis.Script

	mu       sync.Mutex // serialises Step and ScoreAll
	gen      string
	cursor   float64
	lastFull time.Time
	retry    map[string]bool // customers whose warning failed: scored again at the next step
}

// NewScorer validates cfg and returns a Scorer.
func NewScorer(cfg ScorerConfig) (*Scorer, error) {
	if cfg.Redis == nil {
		return nil, errors.New("churn: scorer needs Redis")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultScoreInterval
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultScorePoll
	}
	if cfg.RuleMonths <= 0 {
		cfg.RuleMonths = DefaultRuleMonths
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scorer{cfg: cfg, log: cfg.Logger.With("component", "churn-scorer"), write: redis.NewScript(writeRiskLua),
		retry: map[string]bool{}}, nil
}

// PassStats summarises one scoring pass.
type PassStats struct {
	Scored  int // documents written
	Warned  int // warnings recorded
	Cleared int // warnings cleared (the risk is gone)
	Failed  int // customers left for the next pass (a warning or clearing failed)
}

// Run scores until ctx is done. Errors are logged and retried at the next
// poll; Run returns ctx's error.
func (s *Scorer) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := s.Step(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("churn scoring failed; retrying", "err", err)
		}
		t.Reset(s.cfg.Poll)
	}
}

// Step does what is due now: a full pass (see Scorer) or the customers
// whose signals changed since the last step. It does nothing while the
// signals projection has no generation to serve.
func (s *Scorer) Step(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix, ok, err := projections.ActivePrefix(ctx, s.cfg.Redis, ProjectionName)
	if err != nil || !ok {
		return err
	}
	scoredGen, err := s.cfg.Redis.HGet(ctx, ScoredKey, "gen").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	now := s.cfg.Now()
	if prefix != s.gen || scoredGen != prefix || now.Sub(s.lastFull) >= s.cfg.Interval {
		st, err := s.scoreAll(ctx, prefix, now)
		if err != nil {
			return err
		}
		s.log.Info("churn scores recomputed", "customers", st.Scored, "warnings", st.Warned, "cleared", st.Cleared, "failed", st.Failed)
		return nil
	}
	st, err := s.scoreChanged(ctx, prefix, now)
	if err != nil {
		return err
	}
	if st.Scored > 0 || st.Failed > 0 {
		s.log.Debug("churn scores updated", "customers", st.Scored, "warnings", st.Warned, "cleared", st.Cleared, "failed", st.Failed)
	}
	return nil
}

// ScoreAll scores every customer of the served signals generation at the
// clock's now (ok is false when there is no generation to serve yet).
func (s *Scorer) ScoreAll(ctx context.Context) (st PassStats, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix, ok, err := projections.ActivePrefix(ctx, s.cfg.Redis, ProjectionName)
	if err != nil || !ok {
		return st, false, err
	}
	st, err = s.scoreAll(ctx, prefix, s.cfg.Now())
	return st, true, err
}

const chunk = 200

func (s *Scorer) scoreAll(ctx context.Context, prefix string, now time.Time) (PassStats, error) {
	var st PassStats
	// Changes from here on are the next incremental step's.
	top, err := s.cfg.Redis.ZRangeWithScores(ctx, prefix+ChangedKey, -1, -1).Result()
	if err != nil {
		return st, err
	}
	cursor := 0.0
	if len(top) == 1 {
		cursor = top[0].Score
	}
	// Walk by position up to that top (positions are unique per customer):
	// a customer that changes meanwhile moves above the top, where the next
	// incremental step finds it, and shifts no one else.
	hi := strconv.FormatFloat(cursor, 'f', -1, 64)
	for lo := "-inf"; len(top) == 1; {
		zs, err := s.cfg.Redis.ZRangeByScoreWithScores(ctx, prefix+ChangedKey, &redis.ZRangeBy{Min: lo, Max: hi, Count: chunk}).Result()
		if err != nil {
			return st, err
		}
		if err := s.scoreChunk(ctx, prefix, members(zs), now, &st); err != nil {
			return st, err
		}
		if len(zs) < chunk {
			break
		}
		lo = "(" + strconv.FormatFloat(zs[len(zs)-1].Score, 'f', -1, 64)
	}
	if err := s.cfg.Redis.HSet(ctx, ScoredKey, "gen", prefix, "at", now.UTC().Format(time.RFC3339Nano),
		"months", strconv.Itoa(s.cfg.RuleMonths)).Err(); err != nil {
		return st, err
	}
	s.gen, s.cursor, s.lastFull = prefix, cursor, now
	return st, nil
}

func (s *Scorer) scoreChanged(ctx context.Context, prefix string, now time.Time) (PassStats, error) {
	var st PassStats
	for {
		zs, err := s.cfg.Redis.ZRangeByScoreWithScores(ctx, prefix+ChangedKey, &redis.ZRangeBy{
			Min: "(" + strconv.FormatFloat(s.cursor, 'f', -1, 64), Max: "+inf", Count: chunk}).Result()
		if err != nil {
			return st, err
		}
		if err := s.scoreChunk(ctx, prefix, members(zs), now, &st); err != nil {
			return st, err
		}
		if len(zs) > 0 {
			s.cursor = zs[len(zs)-1].Score
		}
		if len(zs) < chunk {
			break
		}
	}
	if len(s.retry) > 0 {
		ids := make([]string, 0, len(s.retry))
		for id := range s.retry {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		if err := s.scoreChunk(ctx, prefix, ids, now, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

func members(zs []redis.Z) []string {
	ids := make([]string, len(zs))
	for i, z := range zs {
		ids[i], _ = z.Member.(string)
	}
	return ids
}

func (s *Scorer) scoreChunk(ctx context.Context, prefix string, ids []string, now time.Time, st *PassStats) error {
	if len(ids) == 0 {
		return nil
	}
	keys := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		keys = append(keys, prefix+SignalsKey(id))
	}
	for _, id := range ids {
		keys = append(keys, RiskKey(id))
	}
	vals, err := s.cfg.Redis.MGet(ctx, keys...).Result()
	if err != nil {
		return err
	}
	for i, id := range ids {
		sv, ok := vals[i].(string)
		if !ok {
			delete(s.retry, id)
			continue // not in this generation (a concurrent switch)
		}
		var doc CustomerSignals
		if err := json.Unmarshal([]byte(sv), &doc); err != nil {
			return fmt.Errorf("churn: signals of %s: %w", id, err)
		}
		var prev *Risk
		if rv, ok := vals[len(ids)+i].(string); ok {
			var r Risk
			if err := json.Unmarshal([]byte(rv), &r); err == nil {
				prev = &r
			}
		}
		if err := s.scoreOne(ctx, doc, prev, now, st); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			st.Failed++
			s.retry[id] = true
			s.log.Warn("churn warning or clearing failed; the customer is scored again at the next step", "customer", doc.CustomerID, "err", err)
			continue
		}
		delete(s.retry, id)
	}
	return nil
}

// Evaluate is the risk document of a customer's signals at now (the N-month
// rule with months).
func Evaluate(doc CustomerSignals, now time.Time, months int) Risk {
	res := Score(doc.Signals, now)
	fires, reason := Rule(doc.Signals, now, months)
	if months <= 0 {
		months = DefaultRuleMonths
	}
	status := doc.Signals.Status
	if status == "" && !doc.Signals.RegisteredAt.IsZero() {
		status = domain.CustomerStatusActive
	}
	return Risk{CustomerID: doc.CustomerID, Name: doc.Name, OwnerID: doc.OwnerID, Status: status,
		Score: res.Score, Value: res.Value, Band: res.Band, Reasons: res.Reasons,
		Rule: RuleResult{Months: months, Fires: fires, Detail: reason.Detail}, ScoredAt: now.UTC(), Position: doc.Position}
}

// Warning decides the warning a freshly scored customer gets, given its
// previous document (nil when there is none): ok is false when none is due.
func Warning(r Risk, prev *Risk) (w domain.ChurnWarning, ok bool) {
	if r.Status != domain.CustomerStatusActive {
		return w, false
	}
	crossed := r.Band == BandHigh && (prev == nil || prev.Band != BandHigh)
	if !crossed && !r.Rule.Fires {
		return w, false
	}
	signals := ChurnSignals(r.Reasons)
	if r.Rule.Fires {
		signals = append(signals, domain.ChurnSignal{Signal: SignalRule, Detail: r.Rule.Detail})
	}
	if crossed {
		score := r.Score
		return domain.ChurnWarning{Why: domain.ChurnWhyScore, Score: &score, Signals: signals}, true
	}
	return domain.ChurnWarning{Why: domain.ChurnWhyRule, Signals: signals}, true
}

// Clearing decides whether a freshly scored customer's churn warning is
// cleared automatically: ok when the customer is at risk, the N-month rule
// no longer fires for it and its score is in band low. reason says so (it
// is the ChurnWarningCleared's reason).
func Clearing(r Risk) (reason string, ok bool) {
	if r.Status != domain.CustomerStatusAtRisk || r.Rule.Fires || r.Band != BandLow {
		return "", false
	}
	return fmt.Sprintf("churn risk gone: score %d (band low) and the %d-month rule no longer fires", r.Score, r.Rule.Months), true
}

func (s *Scorer) scoreOne(ctx context.Context, doc CustomerSignals, prev *Risk, now time.Time, st *PassStats) error {
	r := Evaluate(doc, now, s.cfg.RuleMonths)
	if s.cfg.Warner != nil {
		w, warn := Warning(r, prev)
		reason, clear := Clearing(r)
		var id uuid.UUID
		if warn || clear {
			var err error
			if id, err = uuid.Parse(doc.CustomerID); err != nil {
				return fmt.Errorf("customer id %q: %w", doc.CustomerID, err)
			}
		}
		if warn {
			raised, err := s.cfg.Warner.WarnChurn(ctx, id, w, WarningKey(doc.CustomerID, now))
			if err != nil {
				return err
			}
			if raised {
				st.Warned++
				s.log.Info("churn warning raised", "customer", doc.CustomerID, "why", w.Why, "score", r.Score)
			}
		}
		if clear {
			cleared, err := s.cfg.Warner.ClearChurn(ctx, id, reason, ClearKey(doc.CustomerID, now))
			if err != nil {
				return err
			}
			if cleared {
				st.Cleared++
				s.log.Info("churn warning cleared", "customer", doc.CustomerID, "score", r.Score)
			}
		}
	}
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ranked := Ranked(r.Status)
	rule := "0"
	if ranked && r.Rule.Fires {
		rule = "1"
	}
	args := []any{string(body), RankMember(r.Value, r.CustomerID), r.CustomerID,
		strconv.FormatUint(r.Position, 10), strconv.FormatInt(now.UnixMilli(), 10), rule}
	if ranked {
		for _, k := range rankKeys(r.Band, r.OwnerID) {
			args = append(args, k)
		}
	}
	if err := s.write.Run(ctx, s.cfg.Redis, []string{RiskKey(r.CustomerID), idxKey(r.CustomerID), inKey(r.CustomerID), RuleKey, VersionKey}, args...).Err(); err != nil {
		return fmt.Errorf("write risk: %w", err)
	}
	st.Scored++
	return nil
}

// Ranked reports whether a customer of status is in the rankings and the
// report's counts (RankKey, RuleKey): active and at-risk customers are; a
// lost customer (and one never registered) has a risk document but is in
// no ranking, and returns to them once reactivated.
func Ranked(status domain.CustomerStatus) bool {
	return status == domain.CustomerStatusActive || status == domain.CustomerStatusAtRisk
}

// writeRiskLua replaces a customer's risk document and rank memberships
// (none for a customer that is not Ranked) atomically, unless a newer computation (later signals position, or the
// same position scored at a later now) is stored already.
//
// Every write also bumps VersionKey (see there), in the same script, so a
// reader that finds the version unchanged knows no risk document or ranking
// changed meanwhile.
//
// KEYS: risk doc, idx hash, in set, rule set, version.
// ARGV: doc, member, customer id, position, now (unix ms), rule ("1"/"0"),
// rank keys... (none: the customer leaves every ranking)
const writeRiskLua = `
local old = redis.call('HMGET', KEYS[2], 'member', 'pos', 'at')
if old[2] then
  local op, oa = tonumber(old[2]), tonumber(old[3])
  local np, na = tonumber(ARGV[4]), tonumber(ARGV[5])
  if op > np or (op == np and oa > na) then return 0 end
end
if old[1] then
  for _, k in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    redis.call('ZREM', k, old[1])
  end
end
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'member', ARGV[2], 'pos', ARGV[4], 'at', ARGV[5])
for i = 7, #ARGV do
  redis.call('ZADD', ARGV[i], 0, ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[i])
end
if ARGV[6] == '1' then
  redis.call('SADD', KEYS[4], ARGV[3])
else
  redis.call('SREM', KEYS[4], ARGV[3])
end
if redis.call('INCR', KEYS[5]) == 1 then
  local t = redis.call('TIME')
  redis.call('INCRBY', KEYS[5], tonumber(t[1]) * 1000000 + tonumber(t[2]))
end
return 1
`
