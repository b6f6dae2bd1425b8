package churn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/readmodels"
)

// Churn-risk key layout. The risk documents depend on the clock (they are
// scored at now), so they live outside the projections' generations and
// outside the crash-equivalence of the read models, under a prefix of their
// own that only the Scorer writes:
//
//	crm:churnrisk:risk:<customerId>          Risk (JSON)
//	crm:churnrisk:idx:<customerId>           hash: member (its rank member), pos, at (write guard)
//	crm:churnrisk:in:<customerId>            set of the rank keys the customer is in
//	crm:churnrisk:rank                       every ranked customer (see RankKey, Ranked)
//	crm:churnrisk:rank:band:<band>           per band
//	crm:churnrisk:rank:owner:<ownerId>       per owner (customers without owner are in none)
//	crm:churnrisk:rank:band:<band>:owner:<o> per band and owner
//	crm:churnrisk:rule                       set of ranked customers the N-month rule fires for
//	crm:churnrisk:scored                     hash: gen (the signals generation fully scored), at, months
//	crm:churnrisk:version                    counter bumped by every risk write (see VersionKey)
//
// Only active and at-risk customers are ranked (see Ranked): a lost
// customer keeps its risk document (the customer 360 shows it) but is in no
// rank key and not in the rule set, so it neither fills the top of the
// ranking nor counts in the report; reactivated, it returns at its next
// scoring.
//
// A rank key is a sorted set whose members all have score 0 and are ordered
// lexically: a member is "<inverse score>:<customerId>" with the inverse
// score 1000 − round(Value·10) as four digits, so the highest risk comes
// first and ties are ordered by customer id. The member is the paging
// cursor.
//
// The signals the scores come from are the "churn" projection's read model
// (Projection, keys under crm:churn:<generation>:, see SignalsKey).
const KeyPrefix = "crm:churnrisk:"

// RiskKey is the key of a customer's Risk document.
func RiskKey(customerID string) string { return KeyPrefix + "risk:" + customerID }

func idxKey(customerID string) string { return KeyPrefix + "idx:" + customerID }
func inKey(customerID string) string  { return KeyPrefix + "in:" + customerID }

// RuleKey is the set of ranked customers (active or at risk) the N-month
// rule fires for (at the last scoring of each).
const RuleKey = KeyPrefix + "rule"

// ScoredKey is a hash describing the last full scoring pass: gen (the
// signals generation it read), at (RFC 3339) and months (the rule's N).
const ScoredKey = KeyPrefix + "scored"

// VersionKey is a counter the scorer increments in the same script that
// writes a risk document and its rank memberships: an unchanged value means
// no risk document, ranking or rule membership changed. A reader may cache
// what it built from them under this value. The counter starts (when the
// key is absent, as after a flush) at the Redis server's clock in
// microseconds, so values seen before a flush are not handed out again.
const VersionKey = KeyPrefix + "version"

// RankKey is the ranking of the ranked customers (active or at risk, see
// Ranked) of band and owner ("" = any): the whole ranking, per band, per
// owner, or per band and owner.
func RankKey(band Band, owner string) string {
	k := KeyPrefix + "rank"
	if band != "" {
		k += ":band:" + string(band)
	}
	if owner != "" {
		k += ":owner:" + owner
	}
	return k
}

// rankKeys are the rank keys a customer of band and owner belongs to.
func rankKeys(band Band, owner string) []string {
	keys := []string{RankKey("", ""), RankKey(band, "")}
	if owner != "" {
		keys = append(keys, RankKey("", owner), RankKey(band, owner))
	}
	return keys
}

// RankMember is a customer's member in the rank keys at score value.
func RankMember(value float64, customerID string) string {
	inv := 1000 - int(math.Round(min(max(value, 0), 100)*10))
	return fmt.Sprintf("%04d:%s", inv, customerID)
}

// ParseCursor checks a paging cursor of ListRisks (a rank member: four
// digits from 0000 to 1000, a colon and a customer UUID) and returns it
// normalised. An invalid cursor is a *domain.Error of KindInvalid naming
// the field "cursor".
func ParseCursor(cursor string) (string, error) {
	bad := func(why string) error {
		return &domain.Error{Kind: domain.KindInvalid, Message: "invalid cursor",
			Fields: []domain.FieldError{{Field: "cursor", Message: why}}}
	}
	inv, id, ok := strings.Cut(cursor, ":")
	if !ok || len(inv) != 4 {
		return "", bad("must be a nextCursor returned by a previous page")
	}
	n, err := strconv.Atoi(inv)
	if err != nil || n < 0 || n > 1000 || strings.ContainsAny(inv, "+-") {
		return "", bad("must be a nextCursor returned by a previous page")
	}
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", bad("must be a nextCursor returned by a previous page")
	}
	return fmt.Sprintf("%04d:%s", n, u.String()), nil
}

// RuleResult is the N-month rule's verdict at the scoring time.
type RuleResult struct {
	Months int    `json:"months"`
	Fires  bool   `json:"fires"`
	Detail string `json:"detail,omitempty"`
}

// Risk is a customer's churn-risk document (the API's churn risk item):
// the score at ScoredAt with each signal's contribution, the band, the
// N-month rule's verdict, and the customer's name, owner and status as the
// churn projection knew them (from CustomerRegistered,
// CustomerProfileChanged, CustomerOwnerAssigned and the churn events).
type Risk struct {
	CustomerID string                `json:"customerId"`
	Name       string                `json:"name"`
	OwnerID    string                `json:"ownerId"`
	Status     domain.CustomerStatus `json:"status"`
	// Score is 0–100 (Value rounded); Value ranks.
	Score   int        `json:"score"`
	Value   float64    `json:"value"`
	Band    Band       `json:"band"`
	Reasons []Reason   `json:"reasons"`
	Rule    RuleResult `json:"rule"`
	// ScoredAt is the "now" the score was computed at.
	ScoredAt time.Time `json:"scoredAt"`
	// Position is the $all position of the last event in the signals used.
	Position uint64 `json:"position,string"`
}

// ReadRisk returns a customer's risk document; found is false when the
// customer has not been scored (unknown, or the scorer has not reached it
// yet after a start or a read-store flush).
func ReadRisk(ctx context.Context, rdb redis.Cmdable, customerID string) (r Risk, found bool, err error) {
	s, err := rdb.Get(ctx, RiskKey(customerID)).Result()
	if errors.Is(err, redis.Nil) {
		return Risk{}, false, nil
	}
	if err != nil {
		return Risk{}, false, unavailable(err)
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return Risk{}, false, fmt.Errorf("churn: risk document of %s: %w", customerID, err)
	}
	return r, true, nil
}

// MaxListLimit bounds ListRisks' limit; DefaultListLimit is the API's default.
const (
	MaxListLimit     = 200
	DefaultListLimit = 50
)

// ListRisks returns up to limit (1–MaxListLimit) risk documents of the
// ranked customers (active or at risk, see Ranked) of band
// (""/low/medium/high) and owner ("" = any), highest score first (ties by
// customer id), starting after cursor ("" = from the top). next is the
// cursor of the following page, "" on the last page. Paging is stable: a
// cursor names a position in the ranking, not an offset, so pages never
// overlap while scores stay put; a customer whose score changes between two
// pages may be seen twice or not at all, as in any live ranking. Bad band,
// limit or cursor values are a *domain.Error of KindInvalid naming the field
// ("band", "limit", "cursor").
func ListRisks(ctx context.Context, rdb redis.Cmdable, band Band, owner string, cursor string, limit int) (items []Risk, next string, err error) {
	var fields []domain.FieldError
	switch band {
	case "", BandLow, BandMedium, BandHigh:
	default:
		fields = append(fields, domain.FieldError{Field: "band", Message: "must be low, medium or high"})
	}
	if limit < 1 || limit > MaxListLimit {
		fields = append(fields, domain.FieldError{Field: "limit", Message: fmt.Sprintf("must be from 1 to %d", MaxListLimit)})
	}
	start := "-"
	if cursor != "" {
		c, err := ParseCursor(cursor)
		if err != nil {
			var de *domain.Error
			if errors.As(err, &de) {
				fields = append(fields, de.Fields...)
			}
		} else {
			start = "(" + c
		}
	}
	if len(fields) > 0 {
		return nil, "", &domain.Error{Kind: domain.KindInvalid, Message: "invalid churn risk query", Fields: fields}
	}
	key := RankKey(band, owner)
	items = make([]Risk, 0, limit)
	// Members whose document vanished meanwhile (a concurrent rescoring
	// moved them) are skipped; read on until the page is full.
	for len(items) < limit {
		want := limit - len(items) + 1
		members, err := rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: start, Stop: "+", ByLex: true, Count: int64(want)}).Result()
		if err != nil {
			return nil, "", unavailable(err)
		}
		if len(members) == 0 {
			return items, "", nil
		}
		keys := make([]string, len(members))
		for i, m := range members {
			_, id, _ := strings.Cut(m, ":")
			keys[i] = RiskKey(id)
		}
		vals, err := rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, "", unavailable(err)
		}
		for i, v := range vals {
			if len(items) == limit {
				// One more exists: the page ends at the previous member.
				return items, members[i-1], nil
			}
			s, ok := v.(string)
			if !ok {
				continue
			}
			var r Risk
			if err := json.Unmarshal([]byte(s), &r); err != nil {
				return nil, "", fmt.Errorf("churn: risk document %s: %w", keys[i], err)
			}
			if RankMember(r.Value, r.CustomerID) != members[i] {
				continue // rescored meanwhile: it is elsewhere in the ranking
			}
			items = append(items, r)
		}
		if len(members) < want {
			return items, "", nil
		}
		start = "(" + members[len(members)-1]
	}
	// The page filled exactly at the end of a read: is there more?
	last := RankMember(items[len(items)-1].Value, items[len(items)-1].CustomerID)
	more, err := rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: "(" + last, Stop: "+", ByLex: true, Count: 1}).Result()
	if err != nil {
		return nil, "", unavailable(err)
	}
	if len(more) == 0 {
		return items, "", nil
	}
	return items, last, nil
}

// BandCounts counts ranked customers (active or at risk) per band.
type BandCounts struct {
	Low    int64 `json:"low"`
	Medium int64 `json:"medium"`
	High   int64 `json:"high"`
}

// RuleCounts is the N-month rule's count: ranked customers (active or at
// risk) it fires for now.
type RuleCounts struct {
	Months int   `json:"months"`
	Firing int64 `json:"firing"`
}

// RiskReport is the churn report aggregate: the ranked customers (active or
// at risk, see Ranked: lost customers count in none of Scored, Bands and
// Rule) in all and per band and the rule's count (from the Scorer's rank
// keys and rule set, at the last scoring of each customer), and the
// warnings raised, deferred, confirmed, cleared and reactivated with the
// customers at risk and lost now (the reports read model's ChurnReport,
// nil while that projection has no generation to serve).
type RiskReport struct {
	Scored   int64                   `json:"scored"` // ranked customers (active or at risk)
	Bands    BandCounts              `json:"bands"`
	Rule     RuleCounts              `json:"rule"`
	ScoredAt *time.Time              `json:"scoredAt,omitempty"` // the last full scoring pass
	Warnings *readmodels.ChurnReport `json:"warnings"`
}

// ReadRiskReport reads the churn report aggregate.
func ReadRiskReport(ctx context.Context, rdb redis.Cmdable) (RiskReport, error) {
	pipe := rdb.Pipeline()
	all := pipe.ZCard(ctx, RankKey("", ""))
	low := pipe.ZCard(ctx, RankKey(BandLow, ""))
	med := pipe.ZCard(ctx, RankKey(BandMedium, ""))
	high := pipe.ZCard(ctx, RankKey(BandHigh, ""))
	rule := pipe.SCard(ctx, RuleKey)
	scored := pipe.HMGet(ctx, ScoredKey, "at", "months")
	if _, err := pipe.Exec(ctx); err != nil {
		return RiskReport{}, unavailable(err)
	}
	rep := RiskReport{Scored: all.Val(), Bands: BandCounts{Low: low.Val(), Medium: med.Val(), High: high.Val()},
		Rule: RuleCounts{Months: DefaultRuleMonths, Firing: rule.Val()}}
	if v := scored.Val(); len(v) == 2 {
		if s, ok := v[0].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				rep.ScoredAt = &t
			}
		}
		if s, ok := v[1].(string); ok {
			if n, err := strconv.Atoi(s); err == nil && n > 0 {
				rep.Rule.Months = n
			}
		}
	}
	prefix, ok, err := projections.ActivePrefix(ctx, rdb, (readmodels.Reports{}).Name())
	if err != nil {
		return RiskReport{}, unavailable(err)
	}
	if ok {
		s, err := rdb.Get(ctx, prefix+readmodels.ChurnReportKey).Result()
		switch {
		case errors.Is(err, redis.Nil):
			rep.Warnings = &readmodels.ChurnReport{ByMonth: map[string]readmodels.ChurnMonth{}}
		case err != nil:
			return RiskReport{}, unavailable(err)
		default:
			var cr readmodels.ChurnReport
			if err := json.Unmarshal([]byte(s), &cr); err != nil {
				return RiskReport{}, fmt.Errorf("churn: churn report document: %w", err)
			}
			rep.Warnings = &cr
		}
	}
	return rep, nil
}

func unavailable(err error) error {
	return &domain.Error{Kind: domain.KindUnavailable, Message: "the read store is unavailable", Err: err}
}
