package readapi

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/churn"
)

// churnReads are the projections the churn endpoints wait for: the churn
// signals projection when this process serves it (the risk documents are
// scored from it, outside the generations), plus extra.
func (a *api) churnReads(extra ...projections.ActiveRead) []projections.ActiveRead {
	if _, ok := a.known[churn.ProjectionName]; ok {
		extra = append(extra, projections.ActiveRead{Name: churn.ProjectionName})
	}
	return extra
}

// GET /v1/churn/risks?band=&owner=: the active and at-risk customers (lost
// ones are in no rank key, see churn.Ranked), highest risk first (ties by
// customer id), with the reasons. It walks the churn package's rank keys
// (see churn.RankKey) and answers the risk documents as stored; a customer
// rescored meanwhile (its document no longer matches the member) is skipped
// here, as it is elsewhere in the ranking.
func (a *api) churnRisks(c *gin.Context) {
	r := a.begin(c)
	limit, cur := r.parseLimit(), r.parseCursor("churn-risks")
	band := r.enum("band", string(churn.BandLow), string(churn.BandMedium), string(churn.BandHigh))
	owner := r.text("owner", 200)
	if r.invalid() {
		return
	}
	owner, ok := a.scopedOwner(r, owner, "the churn risks of their own customers")
	if !ok {
		return
	}
	sts := a.read(r, a.churnReads(projections.ActiveRead{Keys: []string{churn.VersionKey}})...)
	if sts == nil {
		return
	}
	// The scorer bumps churn.VersionKey with every risk write, in the same
	// script; it is read before the rankings, so a page kept under it is
	// never older than it.
	version := ""
	if v := sts[0].Values[0]; v != nil {
		version = *v
	}
	cacheKey := "churn-risks|" + band + "|" + owner + "|" + c.Query("cursor") + "|" + strconv.Itoa(limit)
	if body, ok := a.pages.get(cacheKey, version); ok {
		answer(c, body)
		return
	}
	keep := func(ctx context.Context, zs []redis.Z, docs []*string) ([]json.RawMessage, error) {
		out := make([]json.RawMessage, len(zs))
		for i, d := range docs {
			if d == nil {
				continue
			}
			s := *d
			m, _ := zs[i].Member.(string)
			if ok, err := riskAt(s, m); err != nil {
				return nil, err
			} else if !ok {
				continue // rescored meanwhile: it is elsewhere in the ranking
			}
			out[i] = json.RawMessage(s)
		}
		return out, nil
	}
	items, next, err := page(c.Request.Context(), zlist{rdb: a.rdb, key: churn.RankKey(churn.Band(band), owner), lex: true,
		withDocs: true, docPrefix: churn.RiskKey(""), docSep: ":"},
		"churn-risks", cur, limit, keep)
	if err != nil {
		a.fail(c, err)
		return
	}
	body := listBody(items, next)
	a.pages.put(cacheKey, version, body)
	answer(c, body)
}

// GET /v1/reports/churn: the active and at-risk customers per band and the
// N-month rule's count among them (lost customers count in neither, as in
// /v1/churn/risks), and the churn warnings (raised, deferred, confirmed, cleared,
// reactivated; at risk and lost now; per month).
func (a *api) churnReport(c *gin.Context) {
	r := a.begin(c)
	if r.invalid() {
		return
	}
	if a.read(r, a.churnReads(projections.ActiveRead{Name: pReports})...) == nil {
		return
	}
	rep, err := churn.ReadRiskReport(c.Request.Context(), a.rdb)
	if err != nil {
		a.fail(c, err)
		return
	}
	writeJSON(c, rep)
}

// riskAt reports whether the risk document doc still ranks at member
// (churn.RankMember of its value). The top-level "value" is found by a
// scan (the fields before it are strings, whose quotes are escaped); a
// document the scan cannot read is decoded.
func riskAt(doc, member string) (bool, error) {
	_, id, _ := strings.Cut(member, ":")
	if i := strings.Index(doc, `"value":`); i >= 0 {
		rest := doc[i+len(`"value":`):]
		if j := strings.IndexAny(rest, ",}"); j >= 0 {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest[:j]), 64); err == nil {
				return churn.RankMember(v, id) == member, nil
			}
		}
	}
	var head struct {
		CustomerID string  `json:"customerId"`
		Value      float64 `json:"value"`
	}
	if err := json.Unmarshal([]byte(doc), &head); err != nil {
		return false, err
	}
	return churn.RankMember(head.Value, head.CustomerID) == member, nil
}
